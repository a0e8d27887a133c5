"""Public pages: the program directory, program pages and the request-info form."""

from __future__ import annotations

import time

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
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from ..db import get_session
from ..extensions import csrf, limiter
from ..models import Program
from . import service, spam
from .forms import RequestInfoForm
from .service import UTM_FIELDS, Evidence
from .tokens import FormTokenError, issue_form_token, read_form_token

bp = Blueprint("public", __name__)

RESUBMIT_NOTICE = (
    "This form was open for a while, so we couldn't send it yet. "
    "Your answers are still here: please check them and select Request information again."
)


def _submit_limit() -> str:
    return current_app.config["SUBMIT_RATE_LIMIT"]


@bp.get("/")
def index() -> str:
    """The program directory."""
    programs = service.active_programs(get_session())
    return render_template("public/index.html", programs=programs)


@bp.get("/programs/<slug>")
def program_page(slug: str) -> str:
    """A program page ending with its request-info form."""
    form = _new_form(get_session(), slug=slug)
    program = form.programs.get(slug)
    if program is None:
        abort(404)
    return _render_form(form, program=program, template="public/program.html")


@bp.route("/request-info", methods=["GET", "POST"])
@csrf.exempt  # checked below, so that a stale token re-renders the form instead of a 400
@limiter.limit(_submit_limit, methods=["POST"])
def request_info() -> str | Response | tuple[str, int]:
    """The request-info form with a program selector; POST stores the request."""
    db = get_session()
    if request.method == "GET":
        return _render_form(_new_form(db, slug=request.args.get("program", "")))
    return _handle_post(db)


@bp.get("/request-info/thanks")
def thanks() -> str:
    """The confirmation page after a request (no personal data in the URL)."""
    program_name = session.get("thanks_program")
    return render_template("public/thanks.html", program_name=program_name)


def _new_form(db, *, slug: str) -> RequestInfoForm:  # type: ignore[no-untyped-def]
    """A blank form, preselecting an active program and carrying the visit's attribution."""
    # The active programs are loaded once for the selector; the preselected one is among them.
    form = RequestInfoForm(formdata=None, programs=service.active_programs(db))
    if slug in form.programs:
        form.program.data = slug
    for name in UTM_FIELDS:
        getattr(form, name).data = request.args.get(name, "")[:200]
    form.form_token.data = issue_form_token(referrer=request.referrer)
    return form


def _render_form(
    form: RequestInfoForm,
    *,
    program: Program | None = None,
    template: str = "public/request_info.html",
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    consent = service.get_active_consent(get_session())
    if consent is None:
        current_app.logger.error("no active consent text: run `flask programs load`")
        return render_template("errors/unavailable.html"), 503
    if program is None and form.program.data in form.programs:
        program = form.programs[form.program.data]
    html = render_template(template, form=form, program=program, consent=consent, notice=notice)
    return html, status


def _handle_post(db) -> Response | tuple[str, int]:  # type: ignore[no-untyped-def]
    # request.form, not Flask-WTF's default of files + form: an uploaded file named like
    # a field would otherwise arrive in the validators as a FileStorage instead of text.
    form = RequestInfoForm(request.form, programs=service.active_programs(db))

    # A stale CSRF or form token: keep every value and ask to submit again.
    csrf_ok = True
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            csrf_ok = False
    try:
        token = read_form_token(request.form.get("form_token"))
    except FormTokenError as exc:
        form.form_token.data = _reissue_form_token(exc)
        return _render_form(form, notice=RESUBMIT_NOTICE, status=400)
    if not csrf_ok:
        # The form token is still good: keep it, so the time trap goes on counting from
        # when the form was first served and a quick second click is not taken for a bot.
        return _render_form(form, notice=RESUBMIT_NOTICE, status=400)

    if service.find_submission(db, token.idempotency_key) is not None:
        return _thanks_redirect(None)  # a double click or replay: same answer, nothing stored

    consent = service.get_active_consent(db)
    evidence = Evidence(
        channel="form",
        ip=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
        page_url=request.referrer or request.url,
        referrer=token.referrer,
        utm=form.utm(),
    )

    reasons = spam.reasons(request.form, token_age=token.age)
    if reasons:
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

    if consent is None or not form.validate():
        return _render_form(form, status=422)

    inquiry = form.inquiry()
    return _store(
        db,
        lambda: service.record_submission(
            db, inquiry, evidence, idempotency_key=token.idempotency_key, consent=consent
        ),
        token.idempotency_key,
        inquiry.program,
    )


def _reissue_form_token(exc: FormTokenError) -> str:
    """A new token for a form served again because its token was refused.

    A genuine token that only grew old belonged to a form someone filled in long ago:
    its replacement counts as already past the time trap, so the person can simply
    select the button again. A missing or forged token gets a plain new one.
    """
    if exc.token is not None:
        issued_at = time.time() - current_app.config["MIN_FORM_SECONDS"]
        return issue_form_token(referrer=exc.token.referrer or None, issued_at=issued_at)
    return issue_form_token(referrer=request.referrer)


def _store(db, work, idempotency_key: str, program: Program | None) -> Response:  # type: ignore[no-untyped-def]
    """Run the service, commit once, and answer with the thanks redirect.

    Two copies of one form racing past the idempotency check meet at the unique key:
    the loser rolls back and gets the same thanks page.
    """
    try:
        work()
        db.commit()
    except IntegrityError:
        db.rollback()
        if service.find_submission(db, idempotency_key) is None:
            raise
    return _thanks_redirect(program)


def _thanks_redirect(program: Program | None) -> Response:
    if program is not None:
        session["thanks_program"] = program.name
    return redirect(url_for("public.thanks"), code=303)
