"""Public pages: the program directory, program pages and the request-info form."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from ..db import get_session
from ..extensions import csrf, limiter
from . import service, spam
from . import validation as v
from .catalog_cache import Catalog, ConsentInfo, ProgramInfo, catalog_cache, consent_version
from .catalog_cache import init_app as catalog_cache_init
from .forms import RequestInfoForm
from .page_cache import FormPageCache
from .service import UTM_FIELDS, Evidence
from .tokens import FormToken, FormTokenError, issue_form_token, read_form_token

bp = Blueprint("public", __name__)
_PAGES = "leadform.form_pages"

RESUBMIT_NOTICE = (
    "This form was open for a while, so we couldn't send it yet. "
    "Your answers are still here: please check them and select Request information again."
)


def _submit_limit() -> str:
    return current_app.config["SUBMIT_RATE_LIMIT"]


@bp.record_once
def _init_caches(state: BlueprintSetupState) -> None:
    catalog_cache_init(state.app)
    state.app.extensions[_PAGES] = FormPageCache()


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
@csrf.exempt  # checked below, so that a stale token re-renders the form instead of a 400
@limiter.limit(_submit_limit, methods=["POST"])
def request_info() -> str | Response | tuple[str, int]:
    """The request-info form with a program selector; POST stores the request."""
    if request.method == "GET":
        catalog = _catalog()
        program = catalog.by_slug.get(request.args.get("program", ""))
        return _blank_form_page(catalog, program=program, template="public/request_info.html")
    return _handle_post(get_session())


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
        "form_token": issue_form_token(referrer=request.referrer, consent_id=consent_id),
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
        token = read_form_token(request.form.get("form_token"))
        consent = _consent_shown(db, token, catalog)
    except FormTokenError as exc:
        form.form_token.data = _reissue_form_token(exc, catalog)
        return _render_form(form, catalog, notice=RESUBMIT_NOTICE, status=400)
    if not csrf_ok:
        # The form token is still good: keep it, so the time trap goes on counting from
        # when the form was first served and a quick second click is not taken for a bot.
        form.form_token.data = _token_for_page(token, catalog)
        return _render_form(form, catalog, notice=RESUBMIT_NOTICE, status=400)

    # No look-up of the idempotency key first: a double click or replay is rare, and the
    # unique key turns it into a rollback and the same thanks page (see _store).
    evidence = Evidence(
        channel="form",
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        page_url=request.referrer or request.url,
        referrer=token.referrer,
        utm=form.utm(),
    )

    reasons = spam.reasons(request.form, token_age=token.age)
    # Only a form that is valid is quarantined for being sent too fast: a person who
    # selects the button at once on an empty or half-filled form gets the field errors
    # (and the same token, so the time goes on counting), not a thanks page for nothing.
    # Other signals quarantine at once, so a bot is not told what to fix.
    too_fast_only = reasons == ["too_fast"]
    if reasons and not too_fast_only:
        return _quarantine(db, form, evidence, token, consent, reasons)

    if consent is None or not form.validate():
        form.form_token.data = _token_for_page(token, catalog)
        return _render_form(form, catalog, status=422)
    if too_fast_only:
        return _quarantine(db, form, evidence, token, consent, reasons)

    inquiry = form.inquiry()
    return _store(
        db,
        lambda: service.record_submission(
            db, inquiry, evidence, idempotency_key=token.idempotency_key, consent=consent
        ),
        token.idempotency_key,
        inquiry.program,
    )


def _quarantine(
    db: Session,
    form: RequestInfoForm,
    evidence: Evidence,
    token: FormToken,
    consent: ConsentInfo | None,
    reasons: list[str],
) -> Response:
    """Store the submission as suspected spam and answer as if all went well."""
    program = form.programs.get(request.form.get("program", ""))
    return _store(
        db,
        lambda: service.quarantine_submission(
            db,
            request.form,
            evidence,
            idempotency_key=token.idempotency_key,
            reasons=reasons,
            consent=consent,
            program=program,
        ),
        token.idempotency_key,
        program,
    )


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
    if exc.token is not None:
        issued_at = time.time() - current_app.config["MIN_FORM_SECONDS"]
        return issue_form_token(
            referrer=exc.token.referrer or None, issued_at=issued_at, consent_id=consent_id
        )
    return issue_form_token(referrer=request.referrer, consent_id=consent_id)


def _store(
    db: Session, work: Callable[[], object], idempotency_key: str, program: ProgramInfo | None
) -> Response:
    """Run the service, commit once, and answer with the thanks redirect.

    Two copies of one form racing past the idempotency check meet at the unique key:
    the loser rolls back and gets the same thanks page.
    """
    try:
        work()
        db.commit()
    except IntegrityError:
        db.rollback()
        stored = service.find_submission(db, idempotency_key)
        if stored is None:
            raise
        # The same answer as the first time: the program of what was stored, even when
        # this copy (back button, another program picked) asked for a different one.
        return _thanks_redirect(stored.program.name if stored.program else None)
    return _thanks_redirect(program.name if program else None)


def _thanks_redirect(program_name: str | None) -> Response:
    # Always set (possibly empty): the thanks page is only for someone who sent a request.
    session["thanks_program"] = program_name or ""
    return redirect(url_for("public.thanks"), code=303)
