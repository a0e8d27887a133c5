"""Public pages: the program directory, program pages and the request-info form."""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from ...context import get_session, settings
from ...core.audit import Actor
from ...core.errors import ValidationFailed
from ...core.intake import store, submit
from ...core.intake import validation as v
from ...core.intake.catalog import (
    Catalog,
    CatalogCache,
    ConsentInfo,
    ProgramInfo,
    consent_version,
)
from ...core.intake.inquiry import UTM_FIELDS, Evidence
from ...core.intake.tokens import FormToken, FormTokenError, issue_form_token, read_form_token
from ...core.prospect_email import read_opt_out_token, withdraw_email
from ...db import utcnow
from .. import errors
from ..extensions import csrf, limiter
from .forms import RequestInfoForm
from .page_cache import FormPageCache

bp = Blueprint("public", __name__)
_PAGES = "leadform.form_pages"

RESUBMIT_NOTICE = (
    "This form was open for a while, so we couldn't send it yet. "
    "Your answers are still here: please check them and select Request information again."
)
NOT_SAVED_NOTICE = (
    "We couldn't save your request yet because of a problem on our side. "
    "Your answers are still here: please select Request information again in a minute."
)

#: Pages carrying per-visitor values (CSRF and form tokens, what someone typed, the program
#: they asked about): no shared cache may keep them, nor the browser store them.
PRIVATE_PAGES = frozenset({"public.program_page", "public.request_info", "public.thanks"})


_CATALOG = "leadform.catalog_cache"


def _submit_limit() -> str:
    return str(current_app.config["SUBMIT_RATE_LIMIT"])


@bp.record_once
def _init_caches(state: BlueprintSetupState) -> None:
    state.app.extensions[_CATALOG] = CatalogCache(state.app.config["CATALOG_CACHE_SECONDS"])
    state.app.extensions[_PAGES] = FormPageCache()


@bp.after_request
def _no_shared_cache(response: Response) -> Response:
    """One visitor's tokens must never be served to another by a proxy or CDN."""
    if request.endpoint in PRIVATE_PAGES:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def catalog_cache() -> CatalogCache:
    """The current app's per-process catalog cache (CATALOG_CACHE_SECONDS)."""
    cache: CatalogCache = current_app.extensions[_CATALOG]
    return cache


def _catalog() -> Catalog:
    return catalog_cache().catalog(get_session)


@bp.get("/")
def index() -> str:
    """The program directory."""
    return render_template("public/index.html", programs=_catalog().programs)


@bp.get("/programs/<slug>")
def program_page(slug: str) -> str | tuple[str, int]:
    """A program page ending with its request-info form."""
    catalog = _catalog()
    program = catalog.by_slug.get(slug)
    if program is None:
        abort(404)
    return _blank_form_page(catalog, program=program, template="public/program.html")


@bp.route("/request-info", methods=["GET", "POST"])
# Checked below, so that a stale token re-renders the form instead of a 400.
@csrf.exempt  # type: ignore[untyped-decorator]  # Flask-WTF ships no types
@limiter.limit(_submit_limit, methods=["POST"])
def request_info() -> str | Response | tuple[str, int]:
    """The request-info form with a program selector; POST stores the request."""
    if request.method != "POST":  # GET, and HEAD (uptime monitors, link checkers)
        catalog = _catalog()
        program = catalog.by_slug.get(request.args.get("program", ""))
        return _blank_form_page(catalog, program=program, template="public/request_info.html")
    try:
        return _handle_post(get_session())
    except SQLAlchemyError as exc:
        if not errors.database_unavailable(exc):
            raise
        return _not_saved_yet(exc)


@bp.get("/request-info/thanks")
def thanks() -> str | Response:
    """The confirmation page after a request (no personal data in the URL)."""
    if "thanks_program" not in session:
        # Opened directly (a bookmark, a shared link): nothing was received from this visitor.
        return redirect(url_for("public.request_info"), code=303)
    program_name = session["thanks_program"] or None
    return render_template("public/thanks.html", program_name=program_name)


def _blank_form_page(
    catalog: Catalog, *, program: ProgramInfo | None, template: str
) -> tuple[str, int]:
    """A blank form (preselecting `program`), from the page cache when nothing personal shows.

    On the program page the program is fixed by the template; on /request-info it is the
    selector's preselected value.
    """
    if catalog.consent is None:
        return _unavailable()
    consent_id = catalog.consent.id
    values = {
        "form_token": issue_form_token(
            settings(), referrer=request.referrer, consent_id=consent_id
        ),
        **{name: request.args.get(name, "")[:200] for name in UTM_FIELDS},
    }
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        values["csrf_token"] = generate_csrf()
    if "_flashes" in session:  # a flashed message is for this visitor only: no cache
        form = _new_form(catalog, program=program, values=values)
        return _render_form(form, catalog, program=program, template=template)

    pages: FormPageCache = current_app.extensions[_PAGES]
    key = (
        template,
        program.slug if program else "",
        catalog,
        v.start_terms(),
        request.script_root,
    )

    def render() -> str:
        slots = {name: pages.slot(name) for name in values}
        form = _new_form(catalog, program=program, values=slots)
        return _render_form(form, catalog, program=program, template=template)[0]

    page = pages.get(key, render, frozenset(values))
    if page is None:  # cannot happen with our templates; never serve a wrong page if it does
        current_app.logger.warning("form page %s not cacheable", template)
        form = _new_form(catalog, program=program, values=values)
        return _render_form(form, catalog, program=program, template=template)
    return page.fill(values), 200


def _new_form(
    catalog: Catalog, *, program: ProgramInfo | None, values: dict[str, str]
) -> RequestInfoForm:
    """A blank form preselecting `program`, with the hidden values (tokens, attribution)."""
    form = RequestInfoForm(formdata=None, programs=catalog.programs)
    if program is not None:
        form.program.data = program.slug
    for name in UTM_FIELDS:
        getattr(form, name).data = values[name]
    form.form_token.data = values["form_token"]
    if "csrf_token" in values:
        # Rendered as is: the caller took it from generate_csrf(), which the field uses too.
        form.csrf_token.current_token = values["csrf_token"]
    return form


def _unavailable() -> tuple[str, int]:
    current_app.logger.error("no active consent text: run `flask programs load`")
    return render_template("errors/unavailable.html"), 503


def _render_form(
    form: RequestInfoForm,
    catalog: Catalog,
    *,
    program: ProgramInfo | None = None,
    template: str = "public/request_info.html",
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    consent = catalog.consent
    if consent is None:
        return _unavailable()
    if program is None and form.program.data in form.programs:
        program = form.programs[form.program.data]
    if (
        request.method == "POST"
        and request.form.get("return_to") == "program"
        and program is not None
        and not form.program.errors
    ):
        template = "public/program.html"
    html = render_template(template, form=form, program=program, consent=consent, notice=notice)
    return html, status


def _handle_post(db: Session) -> Response | tuple[str, int]:
    """Parse the POST, hand it to the submit use case, commit once, answer.

    What is the web's: CSRF, the signed form token (a stale one re-shows the form with every
    value kept), the thanks redirect. What is the rule's (spam checks, validation, what is
    stored): the core's submit use case, the same for every door.
    """
    catalog = catalog_cache().catalog(lambda: db)
    # request.form, not Flask-WTF's default of files + form: an uploaded file named like
    # a field would otherwise arrive in the validators as a FileStorage instead of text.
    form = RequestInfoForm(request.form, programs=catalog.programs)

    # A stale CSRF or form token: keep every value and ask to submit again.
    csrf_ok = True
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            csrf_ok = False
    try:
        token = read_form_token(settings(), request.form.get("form_token"))
        consent = _consent_shown(db, token, catalog)
    except FormTokenError as exc:
        form.form_token.data = _reissue_form_token(exc, catalog)
        return _render_form(form, catalog, notice=RESUBMIT_NOTICE, status=400)
    if not csrf_ok:
        # The form token is still good: keep it, so the time trap goes on counting from
        # when the form was first served and a quick second click is not taken for a bot.
        form.form_token.data = _token_for_page(token, catalog)
        return _render_form(form, catalog, notice=RESUBMIT_NOTICE, status=400)
    if consent is None:
        return _unavailable()

    received = submit.Received(
        fields={**form.fields_sent(), "website": form.website.data or ""},
        evidence=Evidence(
            channel="form",
            ip=request.remote_addr or "",
            user_agent=request.headers.get("User-Agent", ""),
            page_url=request.referrer or request.url,
            referrer=token.referrer,
            utm=form.utm(),
        ),
        # No look-up of the key first: a double click or replay is rare, and the unique
        # key turns it into a rollback and the same thanks page (below).
        idempotency_key=token.idempotency_key,
        consent=consent,
        form_age=token.age,
        served_url=request.host_url,  # links in the mail follow it in development
    )
    try:
        done = submit.submit(db, received, programs=catalog.by_slug, settings=settings())
        db.commit()
    except ValidationFailed as failed:
        db.rollback()
        form.show_errors(failed)
        form.form_token.data = _token_for_page(token, catalog)
        return _render_form(form, catalog, status=422)
    except IntegrityError:
        # Two copies of one form racing past each other meet at the unique key: the loser
        # rolls back and gets the same thanks page as the first time, naming the program of
        # what was stored even when this copy (back button, another program) asked another.
        db.rollback()
        stored = store.find_submission(db, token.idempotency_key)
        if stored is None:
            raise
        return _thanks_redirect(stored.program.name if stored.program else None)
    return _thanks_redirect(done.program.name if done.program else None)


def _not_saved_yet(exc: SQLAlchemyError) -> Response:
    """The database could not be reached: the form again, every value kept, 503.

    With the catalog this process last read (stale or not), so no database is needed. The
    form token keeps its nonce and time: the same idempotency key, so if the request did
    reach the database before the connection broke, sending it again finds it instead of
    storing it twice, and the time trap goes on counting from when the form was first served.
    """
    errors.log_database_unavailable(exc)
    catalog = catalog_cache().last_known()
    if catalog is None or catalog.consent is None:
        # Nothing read since this process started: the calm 503 page (back keeps the answers).
        return errors.database_unavailable_response()
    form = RequestInfoForm(request.form, programs=catalog.programs)
    try:
        token = read_form_token(settings(), request.form.get("form_token"))
    except FormTokenError:
        pass  # kept as sent: the next send shows the form with a fresh one, values kept
    else:
        form.form_token.data = _token_for_page(token, catalog)
    html, status = _render_form(form, catalog, notice=NOT_SAVED_NOTICE, status=503)
    return make_response(html, status, {"Retry-After": str(errors.DATABASE_RETRY_AFTER_SECONDS)})


def _consent_shown(db: Session, token: FormToken, catalog: Catalog) -> ConsentInfo | None:
    """The consent text version the form showed: it is the one the person agreed to.

    A token from before versions were kept in it gets the active version. A version that
    no longer exists cannot be evidenced: the form counts as expired and is shown again.
    """
    if token.consent_id is None:
        return catalog.consent
    if catalog.consent is not None and catalog.consent.id == token.consent_id:
        return catalog.consent
    consent = consent_version(db, token.consent_id)
    if consent is None:
        raise FormTokenError("expired", token)
    return consent


def _token_for_page(token: FormToken, catalog: Catalog) -> str:
    """The form token for a form shown again with the current consent text.

    The same token when that text is the one it was issued with; else the same nonce, time
    and referrer with the version now shown, so the evidence matches what the person saw.
    """
    shown = catalog.consent.id if catalog.consent is not None else None
    if token.consent_id is None or token.consent_id == shown:
        # Unchanged; a token without a version gets the active one when it comes back.
        return request.form.get("form_token", "")
    return issue_form_token(
        settings(),
        referrer=token.referrer or None,
        issued_at=token.issued_at,
        consent_id=shown,
        nonce=token.nonce,
    )


def _reissue_form_token(exc: FormTokenError, catalog: Catalog) -> str:
    """A new token for a form served again because its token was refused.

    A genuine token that only grew old belonged to a form someone filled in long ago: its
    replacement counts as already past the time trap, so the person can simply select the
    button again. A missing or forged token gets a plain new one: otherwise a bot could
    skip the time trap by posting once without a token and again with the one it got back.
    (Tokens signed with a rotated-out key still verify while it is in
    LEADFORM_SECRET_KEY_FALLBACKS.)
    """
    consent_id = catalog.consent.id if catalog.consent is not None else None
    config = settings()
    if exc.token is not None:
        issued_at = time.time() - config.min_form_seconds
        return issue_form_token(
            config, referrer=exc.token.referrer or None, issued_at=issued_at, consent_id=consent_id
        )
    return issue_form_token(config, referrer=request.referrer, consent_id=consent_id)


def _thanks_redirect(program_name: str | None) -> Response:
    # Always set (possibly empty): the thanks page is only for someone who sent a request.
    session["thanks_program"] = program_name or ""
    return redirect(url_for("public.thanks"), code=303)


# CSRF-exempt: the signed token is the protection, and mail clients POST here (RFC 8058).
@bp.route("/email/stop/<token>", methods=["GET", "POST"])
@csrf.exempt  # type: ignore[untyped-decorator]  # Flask-WTF ships no types
def email_stop(token: str) -> str | tuple[str, int]:
    """Stop emails: GET asks to confirm (link scanners open links); POST records it.

    A mail client's one-click unsubscribe (List-Unsubscribe-Post) POSTs the same URL with
    no cookie and no form token, which is what RFC 8058 asks for.
    """
    prospect_id = read_opt_out_token(settings(), token)
    if prospect_id is None:
        abort(404)
    if request.method == "GET":
        html = render_template("public/email_stop.html", token=token, done=False)
        return html, 200
    db = get_session()
    who = Actor(ip=request.remote_addr or "", via="email-link")
    if withdraw_email(db, prospect_id, who, utcnow()) is None:
        abort(404)
    db.commit()
    return render_template("public/email_stop.html", token=token, done=True), 200
