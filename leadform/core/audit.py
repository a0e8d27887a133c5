"""The audit log: who viewed, changed or exported what, when and from where."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ..models import AuditEvent, StaffUser


@dataclass(frozen=True)
class Actor:
    """Who acts and from where: a signed-in staff member, an operator, or nobody (the system).

    Adapters build it (the web from the signed-in user and the client address, the CLI
    with via="cli"); use cases pass it on to every audit event and timeline entry.
    """

    user: StaffUser | None = None
    ip: str = ""
    via: str = ""

    @property
    def id(self) -> int | None:
        """The staff user's id, if a staff user acts."""
        return self.user.id if self.user is not None else None

    @property
    def staff(self) -> StaffUser:
        """The staff user acting (use cases that need one check for it first)."""
        if self.user is None:
            raise ValueError("this action needs a staff user")
        return self.user


SYSTEM = Actor()


def record(
    session: Session,
    action: str,
    actor: Actor,
    *,
    target_type: str = "",
    target_id: object = "",
    **data: Any,
) -> AuditEvent:
    """Add an audit event to the session (the caller's commit makes it permanent)."""
    if actor.via:
        data.setdefault("via", actor.via)
    event = AuditEvent(
        actor_id=actor.id,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id not in (None, "") else "",
        ip=actor.ip[:45],
        data=data,
    )
    session.add(event)
    return event
