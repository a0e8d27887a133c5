"""The embed door: the request-info form in an iframe on the sites of the allowlist.

A site adds `<script src=".../embed.js" data-program="SLUG" async></script>`; the script
inserts an iframe of /embed/<slug> (or /embed, with the program selector) and passes the
host page's origin, URL, referrer and utm_* parameters in its query string. The page may
only be framed by allowed origins (CSP frame-ancestors), needs no cookie and sets none,
and its POST goes through the same receive step and submit use case as the program pages,
as channel "embed" with the host page's URL as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    make_response,
    render_template,
    request,
    send_from_directory,
)
from flask.blueprints import BlueprintSetupState
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from ...context import get_session, settings
from ...core import embeds
from ...core.intake.catalog import Catalog, ProgramInfo
from ...core.intake.email_typos import hint_data, suggest_email
from ...core.intake.inquiry import UTM_FIELDS, Evidence
from ...core.intake.tokens import FormToken, issue_form_token
from .. import errors
from ..extensions import csrf, limiter
from ..request_form.forms import read_sent
from ..request_form.receive import (
    NOT_SAVED_NOTICE,
    SUBMIT_LIMIT_SCOPE,
    catalog_cache,
    consent_unavailable,
    keep_token_after_outage,
    receive,
    submit_limit,
)
from ..security import allow_framing_by
from .forms import EmbedForm

bp = Blueprint("embed", __name__)
_ALLOWLIST = "leadform.embed_allowlist"
#: embed.js has one URL on every site, so browsers may reuse it for this long only.
SCRIPT_MAX_AGE = 3600


@bp.record_once
def _init_cache(state: BlueprintSetupState) -> None:
    # Read per request, kept per process like the catalog (CATALOG_CACHE_SECONDS).
    state.app.extensions[_ALLOWLIST] = embeds.AllowlistCache(
        state.app.config["CATALOG_CACHE_SECONDS"]
    )


@bp.after_request
def _embed_headers(response: Response) -> Response:
    """Private pages, and framing for answers the view did not make.

    The form and thanks carry per-visitor values (the form token, what was typed): no
    shared cache may keep them, nor the browser store them. An answer the view did not make
    (429 from the rate limit, a refused POST, a 503) shows in the frame on an allowed site
    too, rather than as a frame the browser blocked.
    """
    if request.endpoint != "embed.form_page":
        return response
    response.headers["Cache-Control"] = "private, no-store"
    if "frame_ancestors" not in g:
        try:
            origins = allowlist()
        except SQLAlchemyError:  # the database is down: the list as last read
            origins = _allowlist_cache().last_known()
        allow_framing_by(origins)
    return response


def _allowlist_cache() -> embeds.AllowlistCache:
    cache: embeds.AllowlistCache = current_app.extensions[_ALLOWLIST]
    return cache


def allowlist() -> frozenset[str]:
    """The origins allowed to embed the form (per-process cache)."""
    return _allowlist_cache().origins(get_session)


@dataclass(frozen=True)
class Host:
    """The page the form is embedded in, as far as it can be trusted."""

    #: Its origin, on the allowlist ("" when not given or not allowed).
    origin: str = ""
    #: Its URL (without the fragment), only when it is of that origin.
    page_url: str = ""


def _host(origin: str | None, page_url: str | None, allowed: frozenset[str]) -> Host:
    value = embeds.origin_of(origin)
    if value is None or value not in allowed:
        return Host()
    url = (page_url or "").split("#", 1)[0][:2048]
    return Host(origin=value, page_url=url if embeds.origin_of(url) == value else "")


@bp.get("/embed.js")
def script() -> Response:
    """The one-line embed script, for any site to load (only allowed ones can frame)."""
    folder = current_app.static_folder
    if folder is None:  # pragma: no cover - the app is always built with its static folder
        abort(404)
    response = send_from_directory(
        folder, "js/embed.js", mimetype="text/javascript", max_age=SCRIPT_MAX_AGE
    )
    # Loaded by other sites' pages, including ones that require resources to opt in (COEP).
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.route("/embed", methods=["GET", "POST"], defaults={"slug": None})
@bp.route("/embed/<slug>", methods=["GET", "POST"])
# No session, so no CSRF token: the Origin check, the signed form token and the rate limit.
@csrf.exempt  # type: ignore[untyped-decorator]  # Flask-WTF ships no types
@limiter.shared_limit(submit_limit, scope=SUBMIT_LIMIT_SCOPE, methods=["POST"])
def form_page(slug: str | None) -> str | tuple[str, int] | Response:
    """The form for the iframe (a program's, or with the selector); POST stores the request."""
    if request.method == "POST":  # else GET, or HEAD
        try:
            return _handle_post(slug, allowlist())
        except SQLAlchemyError as exc:
            if not errors.database_unavailable(exc):
                raise
            return _not_saved_yet(exc, slug)
    allowed = allowlist()
    catalog = catalog_cache().catalog(get_session)
    # A program no longer offered (an old embed): the form with the selector, not an error.
    program = catalog.by_slug.get(slug) if slug else None
    host = _host(request.args.get("origin"), request.args.get("page"), allowed)
    _allow_framing(host, allowed)
    if catalog.consent is None:
        return consent_unavailable()
    form = EmbedForm(formdata=None, programs=catalog.programs)
    if program is not None:
        form.program.data = program.slug
    for name in UTM_FIELDS:
        getattr(form, name).data = request.args.get(name, "")[:200]
    form.page_url.data = host.page_url
    form.parent_origin.data = host.origin
    form.form_token.data = issue_form_token(
        settings(), referrer=request.args.get("ref") or None, consent_id=catalog.consent.id
    )
    return _render_form(form, catalog, program=program)


def _handle_post(slug: str | None, allowed: frozenset[str]) -> str | tuple[str, int]:
    own = embeds.origin_of(request.host_url) or ""
    _allow_framing(Host(), allowed)  # so a refusal below can show in an allowed frame
    if not embeds.post_allowed(
        origin=request.headers.get("Origin"),
        fetch_site=request.headers.get("Sec-Fetch-Site"),
        own_origin=own,
        allowed=allowed,
    ):
        abort(403)
    db = get_session()
    catalog = catalog_cache().catalog(lambda: db)
    form = EmbedForm(request.form, programs=catalog.programs)
    sent = read_sent(request.form)
    host = _host(form.parent_origin.data, form.page_url.data, allowed)
    form.parent_origin.data = host.origin
    form.page_url.data = host.page_url
    _allow_framing(host, allowed)

    def evidence(token: FormToken) -> Evidence:
        return Evidence(
            channel="embed",
            ip=request.remote_addr or "",
            user_agent=request.headers.get("User-Agent", ""),
            # The host page; without one that checks out, the form's own page.
            page_url=host.page_url or request.referrer or request.url,
            referrer=token.referrer,
            utm=sent.utm,
        )

    reply = receive(db, sent, catalog, evidence=evidence)
    if reply.unavailable:
        return consent_unavailable()
    if reply.done:
        # Shown in place (no redirect, no session): a reload posts again and meets the
        # idempotency key, which answers with this same page.
        return render_template(
            "embed/thanks.html",
            program_name=reply.program_name,
            program_slug=reply.program_slug or "",
            parent_origin=host.origin,
        )
    reply.show_on(form)
    program = catalog.by_slug.get(slug) if slug else None
    return _render_form(form, catalog, program=program, notice=reply.notice, status=reply.status)


def _allow_framing(host: Host, allowed: frozenset[str]) -> None:
    # Only the page that says it embeds the form (and is allowed) may frame it; with no
    # such page named, any allowed one.
    allow_framing_by([host.origin] if host.origin else allowed)


def _render_form(
    form: EmbedForm,
    catalog: Catalog,
    *,
    program: ProgramInfo | None,
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    html = render_template(
        "embed/form.html",
        form=form,
        program=program,
        consent=catalog.consent,
        notice=notice,
        # As on the program pages: only a hint, what was typed is sent as is.
        email_suggestion=suggest_email(form.email.data or ""),
        email_hint_data=hint_data(),
        parent_origin=form.parent_origin.data or "",
        form_action=request.path,
    )
    return html, status


def _not_saved_yet(exc: SQLAlchemyError, slug: str | None) -> str | tuple[str, int] | Response:
    """The database could not be reached: the form again in the frame, every value kept, 503.

    As on the program pages: from the catalog and allowlist this process last read, with
    the same form token, so sending it again later stores it once.
    """
    errors.log_database_unavailable(exc)
    catalog = catalog_cache().last_known()
    if catalog is None or catalog.consent is None:
        return errors.database_unavailable_response()
    allowed = _allowlist_cache().last_known()
    form = EmbedForm(request.form, programs=catalog.programs)
    host = _host(form.parent_origin.data, form.page_url.data, allowed)
    form.parent_origin.data = host.origin
    form.page_url.data = host.page_url
    _allow_framing(host, allowed)
    keep_token_after_outage(form, catalog)
    program = catalog.by_slug.get(slug) if slug else None
    html, status = _render_form(form, catalog, program=program, notice=NOT_SAVED_NOTICE, status=503)
    return make_response(html, status, {"Retry-After": str(errors.DATABASE_RETRY_AFTER_SECONDS)})


def _unavailable() -> tuple[str, int]:
    current_app.logger.error("no active consent text: run `flask programs load`")
    return render_template("errors/unavailable.html"), 503
