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
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from .. import audit
from ..db import get_session, utcnow
from ..extensions import limiter
from ..forms import BaseForm
from ..models import StaffUser
from . import passwords, users

login_manager = LoginManager()
login_manager.login_view = "staff.login"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"
# Sessions are ended on the server by the session version; no remember-me cookie.
login_manager.session_protection = "strong"

GENERIC_LOGIN_ERROR = "That email and password don't match an active account."


class LoginForm(BaseForm):
    """Email and password."""

    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=1000)])


@login_manager.user_loader
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


def _get_id(self: StaffUser) -> str:
    return f"{self.id}:{self.session_version}"


# Flask-Login's UserMixin API, attached here so the model stays free of web concerns.
StaffUser.get_id = _get_id  # type: ignore[attr-defined]
StaffUser.is_authenticated = property(lambda self: True)  # type: ignore[attr-defined]
StaffUser.is_active = property(lambda self: self.active)  # type: ignore[attr-defined]
StaffUser.is_anonymous = property(lambda self: False)  # type: ignore[attr-defined]


def _login_email_key() -> str:
    """Rate-limit key for the per-account throttle: the email being tried."""
    return "login:" + users.normalize_staff_email(request.form.get("email", ""))[:254]


def _failed(response: Response) -> bool:
    """Only failed sign-ins count against the throttle."""
    return response.status_code != 303


def _safe_next(target: str | None) -> str:
    """Only local paths under /staff are followed after sign-in."""
    if (
        target
        and target.startswith("/staff")
        and not urlsplit(target).netloc
        and "\\" not in target
    ):
        return target
    return url_for("staff.queue")


def register(bp: Blueprint) -> None:
    """Add the sign-in routes and the session checks to the staff blueprint."""
    bp.before_request(enforce_session_timeouts)

    @bp.route("/login", methods=["GET", "POST"])
    @limiter.limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT_IP"], methods=["POST"], deduct_when=_failed
    )
    @limiter.limit(
        lambda: current_app.config["LOGIN_RATE_LIMIT_ACCOUNT"],
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
            user = users.get_by_email(db, form.email.data)
            ok = passwords.verify_password(user.password_hash if user else None, form.password.data)
            if ok and user is not None and user.active:
                if passwords.needs_rehash(user.password_hash):
                    user.password_hash = passwords.hash_password(form.password.data)
                user.last_login_at = utcnow()
                # A fresh session: nothing from before sign-in carries over.
                session.clear()
                login_user(user)
                now = time.time()
                session["login_at"] = now
                session["seen_at"] = now
                session["sid"] = secrets.token_urlsafe(12)
                audit.record(db, "login", actor=user, target_type="staff_user", target_id=user.id)
                db.commit()
                return redirect(_safe_next(request.args.get("next")), code=303)
            audit.record(
                db,
                "login.failed",
                actor=user if user is not None else None,
                email=form.email.data[:254],
            )
            db.commit()
            error = GENERIC_LOGIN_ERROR
        elif request.method == "POST":
            error = GENERIC_LOGIN_ERROR
        status = 401 if error else 200
        return render_template("staff/login.html", form=form, error=error), status

    @bp.post("/logout")
    def logout() -> Response:
        """Sign out: this and every other session of the user ends."""
        if current_user.is_authenticated:
            db = get_session()
            user = db.get(StaffUser, current_user.id)
            if user is not None:
                users.end_all_sessions(user)
                audit.record(db, "logout", actor=user, target_type="staff_user", target_id=user.id)
                db.commit()
        logout_user()
        session.clear()
        flash("You have signed out.", "success")
        return redirect(url_for("staff.login"), code=303)


def enforce_session_timeouts() -> Response | None:
    """End a session idle for too long or older than the absolute limit."""
    if not current_user.is_authenticated:
        return None
    now = time.time()
    idle = current_app.config["STAFF_IDLE_TIMEOUT_MINUTES"] * 60
    absolute = current_app.config["STAFF_ABSOLUTE_TIMEOUT_HOURS"] * 3600
    seen_at = float(session.get("seen_at", 0))
    login_at = float(session.get("login_at", 0))
    if now - seen_at > idle or now - login_at > absolute:
        logout_user()
        session.clear()
        flash("Your session timed out. Please sign in again.", "info")
        return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
    session["seen_at"] = now
    return None
