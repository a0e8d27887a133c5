"""The staff workspace under /staff: sign-in, the queue, lead pages, export."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_login import current_user
from werkzeug.wrappers import Response

from . import auth

bp = Blueprint("staff", __name__, url_prefix="/staff")
auth.register(bp)


@bp.after_request
def no_store(response: Response) -> Response:
    """Personal data must not linger in browser or proxy caches."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Register the staff blueprint and the login manager."""
    from . import spam_views, views  # noqa: F401 - they register their routes on bp
    from .lead_views import duration, staff_time, staff_time_iso, staff_tz_label

    # One way to show a time on every staff page: in STAFF_TIMEZONE, never raw UTC.
    app.add_template_filter(staff_time, "staff_time")
    app.add_template_filter(staff_time_iso, "staff_time_iso")
    app.add_template_filter(duration, "duration")
    app.add_template_global(staff_tz_label, "staff_tz_label")

    # Flask-Login's context processor loads the user on every template render, public pages
    # included, where "strong" session protection would then rewrite an anonymous visitor's
    # session cookie. The lazy proxy below loads the user only where a template uses it.
    auth.login_manager.init_app(app, add_context_processor=False)
    app.jinja_env.globals["current_user"] = current_user
    app.register_blueprint(bp)
