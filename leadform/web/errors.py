"""Friendly error pages: a person never sees a stack trace or a bare status line.

Public pages show the public layout; pages under /staff show the staff layout with a way
back to the queue. Protocol headers an error carries (Allow on a 405, Retry-After on a 429
or 503) are kept.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, flash, make_response, redirect, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..context import get_session
from ..core import audit
from ..core.errors import Forbidden, NotFound

TITLES = {
    400: "Something was wrong with that request",
    403: "You don't have access to this page",
    404: "We couldn't find that page",
    405: "That action isn't available here",
    413: "That request was too large",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "This page is temporarily unavailable",
}

#: What a 503 for an unreachable database asks clients to wait before trying again.
DATABASE_RETRY_AFTER_SECONDS = 30


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
    )


def on_staff_pages() -> bool:
    """True for a request under the staff workspace's URL prefix (/staff), routed or not."""
    if request.blueprint == "staff":
        return True
    staff = current_app.blueprints.get("staff")
    prefix = (staff.url_prefix or "") if staff is not None else ""
    return bool(prefix) and (request.path == prefix or request.path.startswith(prefix + "/"))


def _staff_nav_loads() -> bool:
    """Whether the staff header can show its navigation (it needs the signed-in user).

    The error may have come from loading that user: then the page goes without the nav
    rather than failing a second time.
    """
    try:
        return bool(current_user.is_authenticated)
    except Exception:  # whatever broke the page must not also break its error page
        current_app.logger.warning("staff error page shown without navigation", exc_info=True)
        return False


def render_error(code: int, headers: dict[str, str] | None = None) -> Response:
    """The error page (or JSON body for API clients) for an HTTP status."""
    title = TITLES.get(code, "Something went wrong")
    if _wants_json():
        return make_response({"error": title}, code, headers or {})
    if on_staff_pages():
        # With the database unreachable, loading the user would only wait on it again.
        nav = code != 503 and _staff_nav_loads()
        html = render_template("staff/error.html", code=code, title=title, show_staff_nav=nav)
    else:
        html = render_template("errors/error.html", code=code, title=title)
    return make_response(html, code, headers or {})


def retry_after_seconds(exc: HTTPException) -> int:
    """Seconds until a breached rate limit's window ends (the window length is the bound)."""
    limit = getattr(exc, "limit", None)
    item = getattr(limit, "limit", None)
    if item is None:
        return 60
    try:
        return max(1, int(item.get_expiry()))
    except (AttributeError, TypeError, ValueError):
        return 60


def handle_http_error(exc: HTTPException) -> Response:
    """Any HTTP error raised by a view or by Werkzeug, with its protocol headers."""
    code = exc.code or 500
    headers = {name: value for name, value in exc.get_headers() if name.lower() != "content-type"}
    if code == 429 and "Retry-After" not in headers:
        headers["Retry-After"] = str(retry_after_seconds(exc))
    return render_error(code, headers)


def handle_csrf_error(exc: CSRFError) -> Response:
    """A stale staff form: back to the page with a message, never a bare 400."""
    referrer = request.referrer or ""
    same_site = urlsplit(referrer).netloc == request.host
    if request.method == "POST" and same_site and not _wants_json():
        flash("Your session had expired, so that wasn't saved. Please try again.", "warning")
        return redirect(referrer, code=303)
    return render_error(400)


def request_actor() -> audit.Actor:
    """The signed-in staff member (if any) and the client address, for the audit log."""
    user = current_user if current_user.is_authenticated else None
    # The proxy object is not the model: hand the core the loaded StaffUser itself.
    user = user._get_current_object() if user is not None else None
    return audit.Actor(user=user, ip=request.remote_addr or "")


def handle_forbidden(exc: Forbidden) -> Response:
    """A use case said no: undo what the request did, audit the denial on its own, 403.

    The one place a denial is written: the request's own work is rolled back first, so
    nothing half-done is committed with the audit row.
    """
    session = get_session()
    session.rollback()
    audit.record(
        session,
        "access.denied",
        request_actor(),
        path=request.path,
        method=request.method,
        reason=exc.reason,
        **exc.data,
    )
    session.commit()
    return render_error(403)


def handle_not_found(_exc: NotFound) -> Response:
    """No such record: the 404 page."""
    get_session().rollback()
    return render_error(404)


def database_unavailable(exc: BaseException) -> bool:
    """True when the error says the database cannot be reached or used right now.

    Connection failures (refused, dropped, timed out), a database that is shutting down or
    refuses work (OperationalError, InterfaceError, a connection SQLAlchemy invalidated)
    and a connection pool with none to spare. Not a broken query or constraint: those are
    bugs or conflicts, and stay 500s (or are handled where they happen).
    """
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def log_database_unavailable(exc: BaseException) -> None:
    """One line per failed request, not a traceback each: an outage fails them all."""
    cause = getattr(exc, "orig", None) or exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    current_app.logger.error(
        "database unavailable on %s %s: %s", request.method, request.path, reason
    )


def database_unavailable_response() -> Response:
    """503 with Retry-After: the calm page in the layout of the part of the site asked for."""
    return render_error(503, {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


def handle_database_error(exc: SQLAlchemyError) -> Response:
    """The database is unreachable: 503, never a stack trace; any other database error is a bug."""
    if not database_unavailable(exc):
        if current_app.testing:
            raise exc  # as for any other bug in tests: fail loudly with the traceback
        return handle_unexpected(exc)
    log_database_unavailable(exc)
    return database_unavailable_response()


def handle_unexpected(exc: Exception) -> Response:
    """A bug: logged with its traceback; the person sees a calm page."""
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(500)


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(Forbidden, handle_forbidden)
    app.register_error_handler(NotFound, handle_not_found)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    # The most specific handler wins: these two and a pool timeout are always an outage;
    # any other DBAPIError only when its connection was lost (handle_database_error checks).
    for database_error in (OperationalError, InterfaceError, PoolTimeoutError, DBAPIError):
        app.register_error_handler(database_error, handle_database_error)
    if not app.testing:
        # In tests an unexpected error should fail loudly with its traceback.
        app.register_error_handler(Exception, handle_unexpected)
