"""Who may do what: route-level role checks and object-level lead checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, flash, request
from flask_login import current_user
from sqlalchemy import ColumnElement, or_

from .. import audit
from ..db import get_session
from ..models import Lead, StaffUser
from .auth import login_redirect

F = TypeVar("F", bound=Callable[..., Any])

ROLE_RANK = {"counselor": 1, "manager": 2, "admin": 3}
#: Ids are 32-bit integers on PostgreSQL; a larger number overflows SQLite's or is no row.
MAX_ID = 2**31 - 1


def is_db_id(raw: str) -> bool:
    """A form value that is a plausible row id: ASCII digits ("²" is a digit too) in range."""
    return raw.isascii() and raw.isdigit() and int(raw) <= MAX_ID


def has_role(user: StaffUser, role: str) -> bool:
    """True when the user's role is at least `role` (counselor < manager < admin)."""
    return ROLE_RANK.get(user.role, 0) >= ROLE_RANK[role]


def deny(reason: str, **data: Any) -> None:
    """Audit a denied request, then answer 403."""
    session = get_session()
    session.rollback()
    audit.record(
        session,
        "access.denied",
        actor=current_user if current_user.is_authenticated else None,
        path=request.path,
        method=request.method,
        reason=reason,
        **data,
    )
    session.commit()
    abort(403)


def role_required(role: str = "counselor") -> Callable[[F], F]:
    """Require a signed-in, active staff user with at least this role."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                flash("Please sign in to continue.", "info")
                return login_redirect()
            if not has_role(current_user, role):
                deny(f"role {role} required")
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]  # read by the route matrix test
        return wrapped  # type: ignore[return-value]

    return decorator


def can_view_lead(user: StaffUser, lead: Lead) -> bool:
    """Counselors see their own leads and the unassigned ones; managers and admins all."""
    return has_role(user, "manager") or lead.owner_id in (None, user.id)


def visible_leads(user: StaffUser, lead: Any = Lead) -> ColumnElement[bool] | None:
    """can_view_lead as a WHERE clause on `lead` (Lead or an alias); None: every lead."""
    if has_role(user, "manager"):
        return None
    return or_(lead.owner_id.is_(None), lead.owner_id == user.id)


def can_work_lead(user: StaffUser, lead: Lead) -> bool:
    """Counselors change only leads assigned to them; managers and admins any lead."""
    return has_role(user, "manager") or lead.owner_id == user.id


def can_see_evidence(user: StaffUser) -> bool:
    """IP addresses and user agents are for managers and admins."""
    return has_role(user, "manager")


def speed_to_lead_minutes() -> int:
    """The target minutes to first contact."""
    return int(current_app.config["SPEED_TO_LEAD_MINUTES"])
