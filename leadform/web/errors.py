"""Friendly error pages: a person never sees a stack trace or a bare status line."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Flask, flash, redirect, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from ..context import get_session
from ..core import audit
from ..core.errors import Forbidden, NotFound
from .extensions import limiter

TITLES = {
    400: "Something was wrong with that request",
    403: "You don't have access to this page",
    404: "We couldn't find that page",
    405: "That action isn't available here",
    413: "That request was too large",
    429: "Too many requests",
    500: "Something went wrong on our side",
}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (
        request.accept_mimetypes.best_match(["application/json", "text/html"]) == "application/json"
    )


def render_error(code: int) -> tuple[str | dict[str, str], int]:
    """The error page (or JSON body for API clients) for an HTTP status."""
    title = TITLES.get(code, "Something went wrong")
    if _wants_json():
        return {"error": title}, code
    return render_template("errors/error.html", code=code, title=title), code


def handle_http_error(
    exc: HTTPException,
) -> tuple[str | dict[str, str], int] | tuple[str | dict[str, str], int, dict[str, str]]:
    """Any HTTP error raised by a view or by Werkzeug; a 429 says when to try again."""
    body, code = render_error(exc.code or 500)
    if code == 429:
        return body, code, {"Retry-After": str(_retry_after())}
    return body, code


def _retry_after() -> int:
    """Seconds until the rate limit that was hit lets a request through again."""
    limit = limiter.current_limit
    if limit is None:
        return 60
    return max(1, int(limit.reset_at - time.time()) + 1)


def handle_csrf_error(exc: CSRFError) -> tuple[str | dict[str, str], int] | Response:
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


def handle_forbidden(exc: Forbidden) -> tuple[str | dict[str, str], int]:
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


def handle_not_found(_exc: NotFound) -> tuple[str | dict[str, str], int]:
    """No such record: the 404 page."""
    get_session().rollback()
    return render_error(404)


def handle_unexpected(exc: Exception) -> tuple[str | dict[str, str], int]:
    """A bug: logged with its traceback; the person sees a calm page."""
    from flask import current_app

    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    return render_error(500)


def init_app(app: Flask) -> None:
    """Register the handlers."""
    app.register_error_handler(Forbidden, handle_forbidden)
    app.register_error_handler(NotFound, handle_not_found)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(HTTPException, handle_http_error)
    if not app.testing:
        # In tests an unexpected error should fail loudly with its traceback.
        app.register_error_handler(Exception, handle_unexpected)
