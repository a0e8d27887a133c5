"""Public pages: the program directory, program pages and the request-info form."""

from __future__ import annotations

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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from ...context import get_session, settings
from ...core.audit import Actor
from ...core.intake import validation as v
from ...core.intake.catalog import (
    Catalog,
    ProgramInfo,
)
from ...core.intake.email_typos import hint_data, suggest_email
from ...core.intake.inquiry import UTM_FIELDS, Evidence
from ...core.intake.tokens import FormToken, issue_form_token
from ...core.prospect_email import read_opt_out_token, withdraw_email
from ...db import utcnow
from .. import errors
from ..extensions import csrf, limiter
from ..request_form.forms import RequestInfoForm, read_sent
from ..request_form.receive import (
    NOT_SAVED_NOTICE,
    SUBMIT_LIMIT_SCOPE,
    catalog_cache,
    consent_unavailable,
    keep_token_after_outage,
    receive,
    submit_limit,
)
from .page_cache import FormPageCache

bp = Blueprint("public", __name__)
_PAGES = "leadform.form_pages"


#: Pages carrying per-visitor values (CSRF and form tokens, what someone typed, the program
#: they asked about): no shared cache may keep them, nor the browser store them.
PRIVATE_PAGES = frozenset({"public.program_page", "public.request_info", "public.thanks"})


@bp.record_once
def _init_caches(state: BlueprintSetupState) -> None:
    state.app.extensions[_PAGES] = FormPageCache()


@bp.after_request
def _no_shared_cache(response: Response) -> Response:
    """One visitor's tokens must never be served to another by a proxy or CDN."""
    if request.endpoint in PRIVATE_PAGES:
        response.headers["Cache-Control"] = "private, no-store"
    return response


def _catalog() -> Catalog:
    return catalog_cache().catalog(get_session)


@bp.app_context_processor
def _privacy_link() -> dict[str, str]:
    """Where "privacy policy" links go: the college's own policy, else the built-in notice."""
    return {"privacy_url": settings().privacy_url or url_for("public.privacy")}


@bp.get("/privacy")
def privacy() -> str | Response:
    """The built-in privacy notice for requests; the college's own policy when one is set."""
    config = settings()
    if config.privacy_url:
        return redirect(config.privacy_url, code=302)
    return render_template(
        "public/privacy.html",
        contact_name=config.privacy_contact_name,
        contact_email=config.privacy_contact_email,
        retention=config.privacy_retention,
    )


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
@limiter.shared_limit(submit_limit, scope=SUBMIT_LIMIT_SCOPE, methods=["POST"])
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
        return consent_unavailable()
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
        return consent_unavailable()
    if program is None and form.program.data in form.programs:
        program = form.programs[form.program.data]
    if (
        request.method == "POST"
        and request.form.get("return_to") == "program"
        and program is not None
        and not form.program.errors
    ):
        template = "public/program.html"
    html = render_template(
        template,
        form=form,
        program=program,
        consent=consent,
        notice=notice,
        # Only a hint: what was typed is kept and sent as is unless the person takes it.
        email_suggestion=suggest_email(form.email.data or ""),
        email_hint_data=hint_data(),
    )
    return html, status


def _handle_post(db: Session) -> Response | tuple[str, int]:
    """Parse the POST, hand it to the shared receive step (the submit use case), answer.

    What is this door's: CSRF and the thanks redirect. The form token, the consent version
    and the call to the core are shared with the embed door (web.request_form.receive).
    The WTForms form is built only to show the form again: a stored request never renders it.
    """
    catalog = catalog_cache().catalog(lambda: db)
    # request.form, not Flask-WTF's default of files + form: an uploaded file named like
    # a field would otherwise arrive in the validators as a FileStorage instead of text.
    sent = read_sent(request.form)

    # A stale CSRF or form token: keep every value and ask to submit again.
    csrf_ok = True
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            csrf_ok = False

    def evidence(token: FormToken) -> Evidence:
        return Evidence(
            channel="form",
            ip=request.remote_addr or "",
            user_agent=request.headers.get("User-Agent", ""),
            page_url=request.referrer or request.url,
            referrer=token.referrer,
            utm=sent.utm,
        )

    reply = receive(
        db, sent, catalog, evidence=evidence, csrf_ok=csrf_ok, fresh_referrer=request.referrer
    )
    if reply.unavailable:
        return consent_unavailable()
    if reply.done:
        return _thanks_redirect(reply.program_name)
    form = RequestInfoForm(request.form, programs=catalog.programs)
    reply.show_on(form)
    return _render_form(form, catalog, notice=reply.notice, status=reply.status)


def _not_saved_yet(exc: SQLAlchemyError) -> Response:
    """The database could not be reached: the form again, every value kept, 503.

    With the catalog this process last read (stale or not), so no database is needed, and
    the same form token (`keep_token_after_outage`).
    """
    errors.log_database_unavailable(exc)
    catalog = catalog_cache().last_known()
    if catalog is None or catalog.consent is None:
        # Nothing read since this process started: the calm 503 page (back keeps the answers).
        return errors.database_unavailable_response()
    form = RequestInfoForm(request.form, programs=catalog.programs)
    keep_token_after_outage(form, catalog)
    html, status = _render_form(form, catalog, notice=NOT_SAVED_NOTICE, status=503)
    return make_response(html, status, {"Retry-After": str(errors.DATABASE_RETRY_AFTER_SECONDS)})


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
