"""Who may see and work which leads: role ranks and object-level rules, as Python and as SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_

from ...models import Lead, StaffUser

ROLE_RANK = {"counselor": 1, "manager": 2, "admin": 3}


def has_role(user: StaffUser, role: str) -> bool:
    """True when the user's role is at least `role` (counselor < manager < admin)."""
    return ROLE_RANK.get(user.role, 0) >= ROLE_RANK[role]


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


def can_assign(user: StaffUser, lead: Lead) -> bool:
    """Giving a lead to someone is for managers and admins."""
    return has_role(user, "manager")


def can_claim(user: StaffUser, lead: Lead) -> bool:
    """Claiming is for unassigned leads (or a no-op on one's own)."""
    return lead.owner_id in (None, user.id) or has_role(user, "manager")


def can_see_evidence(user: StaffUser) -> bool:
    """IP addresses and user agents are for managers and admins."""
    return has_role(user, "manager")
