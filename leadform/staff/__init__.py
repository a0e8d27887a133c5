"""The staff workspace under /staff: sign-in, the queue, lead pages, export."""

from __future__ import annotations

from flask import Blueprint, Flask
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
    from . import views  # noqa: F401 - registers the workspace routes on bp
    from .lead_views import lead_detail  # noqa: F401 - registers the lead page routes on bp

    auth.login_manager.init_app(app)
    app.register_blueprint(bp)
