"""The JSON API under /api/v1: leads from landing pages, the program list, its description.

A thin adapter, like the form views: authenticate the key, parse the JSON into a
`submit.Received`, hand it to the same submit use case as the program pages (validation,
dedupe, consent evidence, spam verdict, events), commit once, answer in JSON. The rules
about keys and Idempotency-Key live in `core/apikeys.py`.

One documented exception to "commit once": a request with an Idempotency-Key commits its
claim on the key first (a transaction of its own), so that a retry arriving meanwhile is
told the first is still running (409) instead of doing the work twice.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    current_app,
    g,
    jsonify,
    make_response,
    render_template,
    request,
)
from flask.blueprints import BlueprintSetupState
from flask_limiter.util import get_remote_address
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ...context import get_session, settings
from ...core import apikeys
from ...core.errors import ValidationFailed
from ...core.intake import submit
from ...core.intake.catalog import Catalog, CatalogCache
from ...core.intake.inquiry import FIELDS, UTM_FIELDS, Evidence
from ...db import utcnow
from ..extensions import csrf, limiter
from . import openapi

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# No cookies, no forms: a bearer key authenticates every write, so CSRF does not apply.
csrf.exempt(bp)

_CATALOG = "leadform.api_catalog_cache"

#: JSON booleans: the form's checkboxes.
BOOLEAN_FIELDS = ("consent", "sms_opt_in")
#: What the caller forwards about the person's visit (the form's evidence).
EVIDENCE_FIELDS = ("ip", "user_agent", "page_url", "referrer")
#: JSON strings (or null, taken as empty): the form's text fields, attribution, evidence,
#: and the honeypot `website` a landing page may forward from its own form.
TEXT_FIELDS = (
    *(name for name in FIELDS if name not in BOOLEAN_FIELDS),
    *UTM_FIELDS,
    *EVIDENCE_FIELDS,
    "website",
)
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"


@bp.record_once
def _init_cache(state: BlueprintSetupState) -> None:
    state.app.extensions[_CATALOG] = CatalogCache(state.app.config["CATALOG_CACHE_SECONDS"])


def _catalog(db: Session) -> Catalog:
    cache: CatalogCache = current_app.extensions[_CATALOG]
    return cache.catalog(lambda: db)


# --------------------------------------------------------------------------- keys, limits, CORS


def _bearer() -> str | None:
    """The key in `Authorization: Bearer <key>`, if that is what was sent."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _key_bucket() -> str:
    """The rate-limit bucket of the key presented (hashed: the key never reaches the store)."""
    presented = _bearer()
    if presented is None:
        return "ip:" + get_remote_address()
    return "key:" + hashlib.sha256(presented.encode("utf-8", "replace")).hexdigest()[:32]


def _api_key() -> apikeys.KeyInfo | None:
    """The verified key of this request (looked up once)."""
    if "api_key" not in g:
        g.api_key = apikeys.verify_key(get_session(), _bearer())
    key: apikeys.KeyInfo | None = g.api_key
    return key


def _origin_allowed(origin: str) -> bool:
    """May a browser page of this origin read our answer?

    With a valid key: when the key allows the origin. Without one (a preflight carries no
    Authorization header, the program list needs none): when any active key allows it.
    """
    key = _api_key() if _bearer() is not None else None
    if key is not None:
        return origin in key.allowed_origins
    return apikeys.origin_allowed_by_any(get_session(), origin)


@bp.before_request
def _preflight() -> Response | None:
    """Answer a CORS preflight (OPTIONS with Access-Control-Request-Method) here."""
    if request.method != "OPTIONS":
        return None
    response = make_response("", 204)
    origin = request.headers.get("Origin")
    method = request.headers.get("Access-Control-Request-Method")
    allowed = "POST" if request.endpoint == "api.create_lead" else "GET"
    response.headers["Allow"] = f"{allowed}, OPTIONS"
    if origin and method and _origin_allowed(origin):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = allowed
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = str(settings().api_cors_max_age)
    return response


@bp.after_request
def _cors(response: Response) -> Response:
    """Let an allowed origin's page read the answer; never with credentials."""
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if (
        origin
        and request.method != "OPTIONS"
        and "Access-Control-Allow-Origin" not in response.headers
        and _origin_allowed(origin)
    ):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After, ETag"
    return response


# --------------------------------------------------------------------------- POST /leads


def _error(status: int, message: str, **headers: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    response.headers.update(headers)
    return response


def _invalid(errors: Mapping[str, list[str]], status: int = 422) -> Response:
    response = jsonify({"errors": {name: list(messages) for name, messages in errors.items()}})
    response.status_code = status
    return response


def _read_body() -> dict[str, Any] | Response:
    """The request's JSON object, or the error answer (413, 415, 400, 422)."""
    limit = settings().api_max_body_bytes
    if request.mimetype != "application/json":
        return _error(415, "Send the request body as JSON (Content-Type: application/json).")
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"The request body is larger than {limit} bytes.")
    request.max_content_length = limit  # a chunked body without Content-Length too
    raw = request.get_data(cache=False)

    def no_constants(name: str) -> None:
        raise ValueError(name)

    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
        # A lone surrogate (\ud800) is valid JSON but not text any database can store.
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):
        return _invalid({"body": ["The body is not valid JSON in UTF-8."]}, status=400)
    if not isinstance(body, dict):
        return _invalid({"body": ["Send a JSON object with the lead's fields."]})
    return body


def _fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The known fields with their JSON types checked; raise ValidationFailed.

    Only types are checked here: what a value must be is the core's rule, the same as for
    the form. null is taken as "not sent". Unknown fields are ignored.
    """
    errors: dict[str, list[str]] = {}
    fields: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = body.get(name)
        if value is None:
            fields[name] = ""
        elif isinstance(value, str):
            fields[name] = value
        else:
            errors[name] = ["Send text (a JSON string)."]
    for name in BOOLEAN_FIELDS:
        value = body.get(name)
        if value is None:
            fields[name] = False
        elif isinstance(value, bool):
            fields[name] = value
        else:
            errors[name] = ["Send true or false."]
    ip = fields.get("ip", "").strip()
    if ip:
        try:
            fields["ip"] = str(ipaddress.ip_address(ip))
        except ValueError:
            errors["ip"] = ["Send the visitor's IP address (IPv4 or IPv6)."]
    if errors:
        raise ValidationFailed(errors)
    return fields


def _received(
    fields: Mapping[str, Any], key: apikeys.KeyInfo, catalog: Catalog, submission_key: str
) -> submit.Received:
    assert catalog.consent is not None  # noqa: S101 - checked by the caller
    return submit.Received(
        fields={name: fields[name] for name in (*FIELDS, "website")},
        evidence=Evidence(
            channel="api",
            api_key_id=key.id,
            # The visitor's address as the caller saw it; else the caller's own.
            ip=fields["ip"] or request.remote_addr or "",
            user_agent=fields["user_agent"],
            page_url=fields["page_url"],
            referrer=fields["referrer"],
            utm={name: fields[name] for name in UTM_FIELDS},
            received_at=utcnow(),
        ),
        idempotency_key=submission_key,
        # The API shows no consent text itself: the caller's page shows the active one.
        consent=catalog.consent,
        form_age=None,  # no form was served: no time trap
    )


def _submit_answer(
    db: Session, received: submit.Received, catalog: Catalog
) -> tuple[int, dict[str, Any]]:
    """Run the submit use case (flushes; the caller commits): the status and JSON body."""
    try:
        done = submit.submit(db, received, programs=catalog.by_slug, settings=settings())
    except ValidationFailed as failed:
        return 422, {"errors": {name: list(msgs) for name, msgs in failed.errors.items()}}
    if done.quarantined or done.outcome is None:
        # Suspected spam is answered as if all went well, so a bot learns nothing; the id
        # names no lead (none was made).
        return 201, {"id": secrets.token_urlsafe(16), "status": "created"}
    outcome = done.outcome
    if outcome.lead_created:
        return 201, {"id": outcome.lead_public_id, "status": "created"}
    return 200, {"id": outcome.lead_public_id, "status": "merged"}


def _answer(status: int, body: Mapping[str, Any], **headers: str) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(headers)
    return response


@bp.route("/leads", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@limiter.limit(lambda: str(current_app.config["API_RATE_LIMIT_IP"]), methods=["POST"])
@limiter.limit(
    lambda: str(current_app.config["API_RATE_LIMIT_KEY"]), methods=["POST"], key_func=_key_bucket
)
def create_lead() -> Response:
    """Store a request for information sent by a landing page's server or script."""
    key = _api_key()
    if key is None:
        return _error(
            401,
            "Send a valid API key: Authorization: Bearer <key>.",
            **{"WWW-Authenticate": 'Bearer realm="leadform"'},
        )
    origin = request.headers.get("Origin")
    if origin and origin not in key.allowed_origins:
        return _error(403, "This API key may not be used from this origin.")
    body = _read_body()
    if isinstance(body, Response):
        return body
    try:
        fields = _fields(body)
    except ValidationFailed as failed:
        return _invalid(failed.errors)

    db = get_session()
    catalog = _catalog(db)
    if catalog.consent is None:
        current_app.logger.error("no active consent text: run `flask programs load`")
        return _error(503, "Requests cannot be taken right now; try again later.")

    header = request.headers.get("Idempotency-Key")
    if header is None:
        received = _received(fields, key, catalog, f"api:{secrets.token_urlsafe(24)}")
        status, answer = _submit_answer(db, received, catalog)
        if status == 422:
            db.rollback()
        else:
            db.commit()
        return _answer(status, answer)

    try:
        idem = apikeys.check_idempotency_key(header)
    except ValidationFailed as failed:
        return _invalid(failed.errors)
    claim = apikeys.claim(
        db,
        key.id,
        idem,
        apikeys.fingerprint(body),
        now=utcnow(),
        timeout_seconds=settings().api_idempotency_timeout_seconds,
    )
    db.commit()  # the claim, on its own: see the module's docstring
    if claim.state == "replay" and claim.status is not None and claim.body is not None:
        return _answer(claim.status, claim.body, **{"Idempotent-Replayed": "true"})
    if claim.state == "mismatch":
        return _invalid(
            {"Idempotency-Key": ["This key was already used with a different request body."]}
        )
    if claim.state != "new" or claim.record_id is None:
        return _error(409, "A request with this Idempotency-Key is still being processed.")

    record_id = claim.record_id
    received = _received(fields, key, catalog, apikeys.submission_key(record_id))
    try:
        status, answer = _submit_answer(db, received, catalog)
        if status == 422:
            db.rollback()  # nothing of the submission; the answer is kept for replays
        apikeys.finish(db, record_id, status, answer, utcnow())
        db.commit()
    except IntegrityError:
        # The submission under this key exists: a claim taken over from a request that was
        # only slow, not dead. That one answers; this one is told to retry.
        db.rollback()
        return _error(409, "A request with this Idempotency-Key is still being processed.")
    except Exception:
        db.rollback()
        apikeys.abandon(db, record_id)
        db.commit()
        raise
    return _answer(status, answer)


# --------------------------------------------------------------------------- GET endpoints


@bp.get("/programs")
def programs() -> Response:
    """The active programs, for a landing page's program selector (public, cacheable)."""
    catalog = _catalog(get_session())
    body = {
        "programs": [
            {"slug": p.slug, "name": p.name, "level": p.level, "summary": p.summary}
            for p in catalog.programs
        ]
    }
    return _cacheable(body, max_age=300)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI 3.1 description of this API."""
    return _cacheable(openapi.document(), max_age=3600)


_CODE = re.compile(r"`([^`]+)`")


@bp.app_template_filter("api_text")
def _api_text(text: str) -> Markup:
    """A description from the OpenAPI document: escaped, with `code` spans (its Markdown)."""
    return Markup(_CODE.sub(r"<code>\1</code>", str(escape(text))))  # noqa: S704 - escaped


@bp.app_template_filter("api_json")
def _api_json(value: object) -> str:
    """An example as readable JSON (escaped by the template like any text)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@bp.get("/docs")
def docs() -> str:
    """The API reference for people, rendered from the same OpenAPI document."""
    return render_template("api/docs.html", doc=openapi.document())


def _cacheable(body: Mapping[str, Any], *, max_age: int) -> Response:
    """A JSON answer with an ETag of its content: 304 when the client has it already."""
    payload = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    response = current_app.response_class(payload, mimetype="application/json")
    response.set_etag(hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32])
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    result: Response = response.make_conditional(request)
    return result
