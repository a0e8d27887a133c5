"""Who may do what on staff pages: sign-in and role checks per route (objects: the core)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import flash
from flask_login import current_user
from werkzeug.wrappers import Response

from ...context import settings
from ...core.audit import Actor
from ...core.errors import Forbidden
from ...core.leads.permissions import (
    ROLE_RANK,
    can_see_evidence,
    can_view_lead,
    can_work_lead,
    has_role,
    visible_leads,
)
from ...models import StaffUser
from ..errors import request_actor
from .auth import login_redirect

__all__ = [
    "ROLE_RANK",
    "can_see_evidence",
    "can_view_lead",
    "can_work_lead",
    "has_role",
    "visible_leads",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Ids are 32-bit integers on PostgreSQL; a larger number overflows SQLite's or is no row.
MAX_ID = 2**31 - 1


def is_db_id(raw: str) -> bool:
    """A form value that is a plausible row id: ASCII digits ("²" is a digit too) in range."""
    return raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID


def actor() -> Actor:
    """The signed-in staff member as the core's Actor (with the client address)."""
    return request_actor()


def user() -> StaffUser:
    """The signed-in staff member (the model, not Flask-Login's proxy)."""
    return actor().staff


def role_required(
    role: str = "counselor",
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Require a signed-in, active staff user with at least this role."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            if not current_user.is_authenticated:
                flash("Please sign in to continue.", "info")
                return login_redirect()
            if not has_role(current_user, role):
                raise Forbidden(f"role {role} required")
            return view(*args, **kwargs)

        # A function attribute has no place in a Callable type; the route matrix test reads it.
        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped

    return decorator


def speed_to_lead_minutes() -> int:
    """The target minutes to first contact."""
    return settings().speed_to_lead_minutes
