"""Staff sign-in: Flask-Login sessions that the server can end, with timeouts and throttling."""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from ...context import get_session, settings
from ...core import audit
from ...core.accounts import passwords, users
from ...db import utcnow
from ...models import StaffUser
from .. import errors
from ..extensions import limiter
from ..forms import BaseForm, filled
from .blueprint import bp

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"
# Sessions are ended on the server by the session version; no remember-me cookie.
login_manager.session_protection = "strong"

GENERIC_LOGIN_ERROR = "That email and password don't match an active account."
FORM_EXPIRED = "The sign-in page had expired. Please enter your password again."


class LoginForm(BaseForm):
    """Email and password."""

    email = EmailField(
        "Email",
        validators=[InputRequired(), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[InputRequired(), Length(max=1000)],
        render_kw={"autocomplete": "current-password"},
    )


@login_manager.user_loader  # type: ignore[untyped-decorator]  # Flask-Login ships no types
def load_user(alternative_id: str) -> StaffUser | None:
    """Load the user from "<id>:<session version>"; an old version means signed out."""
    try:
        user_id, version = (int(part) for part in alternative_id.split(":", 1))
    except ValueError:
        return None
    user = get_session().get(StaffUser, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def _login_email_key() -> str:
    """Rate-limit key for the per-account throttle: the email being tried."""
    return "login:" + users.normalize_staff_email(request.form.get("email", ""))[:254]


def _failed(response: Response) -> bool:
    """Only wrong credentials (401) count against the throttle, not sign-ins or stale forms."""
    return response.status_code == 401


def _safe_next(target: str | None) -> str:
    """Only local paths under /staff are followed after sign-in; anything else: the queue."""
    if target and _is_staff_path(target):
        return target
    return url_for("staff.queue")


def _is_staff_path(target: str) -> bool:
    # Browsers treat "\\" like "/" and drop tabs and newlines, so "/\\evil.example" or
    # "/\t/evil.example" would leave the site: refuse them rather than try to clean them.
    if "\\" in target or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in target):
        return False
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return False
    return parts.path == "/staff" or parts.path.startswith("/staff/")


def login_redirect() -> Response:
    """Send a signed-out request to the sign-in page, coming back here afterwards.

    Only a GET comes back: after a POST the page to return to is not the form's action.
    """
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    return redirect(url_for("staff.login"))


def register(bp: Blueprint) -> None:
    """Add the sign-in routes and the session checks to the staff blueprint."""
    bp.before_request(enforce_session_timeouts)

    @bp.route("/login", methods=["GET", "POST"])
    @limiter.limit(
        lambda: str(current_app.config["LOGIN_RATE_LIMIT_IP"]),
        methods=["POST"],
        deduct_when=_failed,
    )
    @limiter.limit(
        lambda: str(current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"]),
        methods=["POST"],
        key_func=_login_email_key,
        deduct_when=_failed,
    )
    def login() -> str | Response | tuple[str, int]:
        """Sign in with email and password."""
        if current_user.is_authenticated:
            return redirect(url_for("staff.queue"))
        form = LoginForm()
        error = None
        if form.validate_on_submit():
            db = get_session()
            profile = settings().argon2_profile
            email, password = filled(form.email), filled(form.password)
            user = users.get_by_email(db, email)
            ok = passwords.verify_password(profile, user.password_hash if user else None, password)
            if ok and user is not None and user.active:
                if passwords.needs_rehash(profile, user.password_hash):
                    user.password_hash = passwords.hash_password(profile, password)
                user.last_login_at = utcnow()
                # A fresh session: nothing from before sign-in carries over.
                session.clear()
                login_user(user, remember=False)
                now = time.time()
                session["login_at"] = now
                session["seen_at"] = now
                session["sid"] = secrets.token_urlsafe(12)
                who = audit.Actor(
                    user=user,
                    ip=request.remote_addr or "",
                )
                audit.record(db, "login", who, target_type="staff_user", target_id=user.id)
                db.commit()
                return redirect(_safe_next(request.args.get("next")), code=303)
            audit.record(
                db,
                "login.failed",
                audit.Actor(
                    user=user,
                    ip=request.remote_addr or "",
                ),
                email=email[:254],
            )
            db.commit()
            error = GENERIC_LOGIN_ERROR
        elif request.method == "POST":
            error = GENERIC_LOGIN_ERROR
        return _render_login(form, error, 401 if error else 200)

    @bp.errorhandler(CSRFError)
    def login_form_expired(exc: CSRFError) -> ResponseReturnValue:
        """A stale sign-in form is shown again with the email kept; other forms as usual."""
        if request.endpoint != "staff.login":
            return errors.handle_csrf_error(exc)
        return _render_login(LoginForm(), FORM_EXPIRED, 400)

    @bp.errorhandler(429)
    def login_throttled(exc: HTTPException) -> ResponseReturnValue:
        """Too many failed sign-ins: the sign-in page with the same words for every cause."""
        if request.endpoint != "staff.login":
            return errors.handle_http_error(exc)
        # Per account or per address: one message, so it tells nothing about the account.
        current_app.logger.warning(
            "sign-in throttled for %s from %s", _login_email_key(), request.remote_addr
        )
        wait = errors.retry_after_seconds(exc)
        message = f"Too many sign-in attempts. Please wait {_minutes(wait)} and try again."
        body, status = _render_login(LoginForm(), message, 429)
        return body, status, {"Retry-After": str(wait)}

    @bp.post("/logout")
    def logout() -> Response:
        """Sign out: this and every other session of the user ends."""
        if current_user.is_authenticated:
            db = get_session()
            user = db.get(StaffUser, current_user.id)
            if user is not None:
                users.end_all_sessions(user)
                who = audit.Actor(
                    user=user,
                    ip=request.remote_addr or "",
                )
                audit.record(db, "logout", who, target_type="staff_user", target_id=user.id)
                db.commit()
        logout_user()
        session.clear()
        flash("You have signed out.", "success")
        return redirect(url_for("staff.login"), code=303)


def _render_login(form: LoginForm, error: str | None, status: int) -> tuple[str, int]:
    return render_template("staff/login.html", form=form, error=error), status


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def enforce_session_timeouts() -> Response | None:
    """End a session idle for too long or older than the absolute limit."""
    if not current_user.is_authenticated:
        return None
    now = time.time()
    idle = settings().staff_idle_timeout_minutes * 60
    absolute = settings().staff_absolute_timeout_hours * 3600
    seen_at = float(session.get("seen_at", 0))
    login_at = float(session.get("login_at", 0))
    if now - seen_at > idle or now - login_at > absolute:
        logout_user()
        session.clear()
        flash("Your session timed out. Please sign in again.", "info")
        return login_redirect()
    session["seen_at"] = now
    return None


register(bp)
