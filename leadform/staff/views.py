"""Staff workspace pages."""

from __future__ import annotations

from flask import render_template

from . import bp
from .access import role_required


@bp.get("/")
@role_required("counselor")
def queue() -> str:
    """The lead queue."""
    return render_template("staff/queue.html")
