"""The audit log: who viewed, changed or exported what, when and from where."""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from .models import AuditEvent, StaffUser


def record(
    session: Session,
    action: str,
    *,
    actor: StaffUser | None = None,
    target_type: str = "",
    target_id: object = "",
    ip: str | None = None,
    **data: Any,
) -> AuditEvent:
    """Add an audit event to the session (the caller's commit makes it permanent)."""
    if ip is None and has_request_context():
        ip = request.remote_addr or ""
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id not in (None, "") else "",
        ip=(ip or "")[:45],
        data=data,
    )
    session.add(event)
    return event
