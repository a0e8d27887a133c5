"""The staff blueprint, on its own so the view modules import it and not each other."""

from __future__ import annotations

from flask import Blueprint
from werkzeug.wrappers import Response

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.after_request
def no_store(response: Response) -> Response:
    """Personal data must not linger in browser or proxy caches."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
