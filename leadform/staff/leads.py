"""Working a lead: status, owner, notes, contact attempts, follow-ups.

Each change records a timeline Activity and an audit event. Services flush, never commit;
the caller checks permissions (staff/access.py) before calling.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from .. import audit
from ..db import utcnow
from ..intake.validation import bad_characters
from ..models import LEAD_STATUSES, Activity, Lead, StaffUser

CONTACT_CHANNELS: tuple[tuple[str, str], ...] = (
    ("call", "Call"),
    ("email", "Email"),
    ("sms", "Text message"),
)
CONTACT_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("reached", "Reached them"),
    ("left_message", "Left a message"),
    ("no_answer", "No answer"),
    ("sent", "Sent (email or text)"),
    ("wrong_number", "Wrong number or bounced"),
)
STATUS_LABELS: dict[str, str] = {
    "new": "New",
    "attempted": "Attempted",
    "contacted": "Contacted",
    "qualified": "Qualified",
    "applied": "Applied",
    "enrolled": "Enrolled",
    "not_interested": "Not interested",
    "unreachable": "Unreachable",
    "invalid": "Invalid",
}


#: Outcomes that only make sense for a message, not for a phone call.
_MESSAGE_ONLY_OUTCOMES = frozenset({"sent"})
MAX_NOTE_LENGTH = 5000


class LeadActionError(ValueError):
    """The change is not possible as asked; the message is shown to the staff member.

    `field` names the form field the message belongs next to ("" for the action as a whole).
    """

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _clean_text(value: str, field: str, *, required: bool) -> str:
    """Trim a staff-written text; reject empty (when required), overlong or control characters.

    NUL cannot be stored in PostgreSQL text, and bidi overrides can disguise what a note says.
    """
    value = value.strip()
    if required and not value:
        raise LeadActionError("Write a note first.", field)
    if len(value) > MAX_NOTE_LENGTH:
        raise LeadActionError(f"Keep notes to {MAX_NOTE_LENGTH:,} characters.", field)
    if bad_characters(value, multiline=True):
        raise LeadActionError("Remove the special or invisible characters.", field)
    return value


def _activity(
    session: Session, lead: Lead, kind: str, actor: StaffUser, body: str = "", **data: Any
) -> Activity:
    activity = Activity(lead_id=lead.id, kind=kind, actor_id=actor.id, body=body, data=data)
    session.add(activity)
    audit.record(
        session, f"lead.{kind}", actor=actor, target_type="lead", target_id=lead.id, **data
    )
    return activity


def _mark_contacted(lead: Lead, now: dt.datetime) -> None:
    """Speed-to-lead: the first contact attempt or first move out of "new" stops the clock."""
    if lead.first_contacted_at is None:
        lead.first_contacted_at = now


def change_status(session: Session, lead: Lead, status: str, actor: StaffUser) -> bool:
    """Move the lead to a status; False when it already had it."""
    if status not in LEAD_STATUSES:
        raise LeadActionError("Choose a status from the list.", "status")
    if status == lead.status:
        return False
    old = lead.status
    if old == "new":
        _mark_contacted(lead, utcnow())
    lead.status = status
    _activity(
        session,
        lead,
        "status_changed",
        actor,
        f"Status changed from {STATUS_LABELS[old]} to {STATUS_LABELS[status]}.",
        **{"from": old, "to": status},
    )
    session.flush()
    return True


def assign(session: Session, lead: Lead, owner: StaffUser | None, actor: StaffUser) -> bool:
    """Give the lead to a counselor (None: back to the unassigned queue)."""
    if owner is not None and not owner.active:
        raise LeadActionError("That staff member's account is not active.", "owner")
    new_id = owner.id if owner is not None else None
    if lead.owner_id == new_id:
        return False
    old_id = lead.owner_id
    lead.owner_id = new_id
    body = f"Assigned to {owner.name}." if owner is not None else "Unassigned."
    _activity(session, lead, "assigned", actor, body, from_owner=old_id, to_owner=new_id)
    session.flush()
    return True


def claim(session: Session, lead: Lead, actor: StaffUser) -> bool:
    """A counselor takes an unassigned lead; False when it was already theirs.

    A conditional UPDATE, not check-then-set: when two counselors claim the same lead at
    once, exactly one gets it and the other is told.
    """
    if lead.owner_id == actor.id:
        return False
    taken = session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.owner_id.is_(None))
        .values(owner_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(lead)
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        if lead.owner_id == actor.id:
            return False
        raise LeadActionError("Someone else has this lead already.")
    _activity(
        session,
        lead,
        "assigned",
        actor,
        f"Claimed by {actor.name}.",
        from_owner=None,
        to_owner=actor.id,
    )
    session.flush()
    return True


def add_note(session: Session, lead: Lead, body: str, actor: StaffUser) -> Activity:
    """Add a note to the timeline."""
    body = _clean_text(body, "body", required=True)
    activity = _activity(session, lead, "note", actor, body)
    session.flush()
    return activity


def log_contact(
    session: Session, lead: Lead, channel: str, outcome: str, note: str, actor: StaffUser
) -> Activity:
    """Record a call, email or text and its outcome; moves a new lead along."""
    if channel not in dict(CONTACT_CHANNELS):
        raise LeadActionError("Choose how you contacted them.", "channel")
    if outcome not in dict(CONTACT_OUTCOMES):
        raise LeadActionError("Choose the outcome.", "outcome")
    if channel == "call" and outcome in _MESSAGE_ONLY_OUTCOMES:
        raise LeadActionError("For a call, choose reached, left a message or no answer.", "outcome")
    note = _clean_text(note, "note", required=False)
    _mark_contacted(lead, utcnow())
    body = f"{dict(CONTACT_CHANNELS)[channel]}: {dict(CONTACT_OUTCOMES)[outcome]}."
    if note:
        body += f" {note}"
    activity = _activity(
        session, lead, "contact_attempt", actor, body, channel=channel, outcome=outcome
    )
    target = "contacted" if outcome == "reached" else "attempted"
    if lead.status == "new" or (lead.status == "attempted" and target == "contacted"):
        change_status(session, lead, target, actor)
    session.flush()
    return activity


def set_follow_up(session: Session, lead: Lead, when: dt.datetime | None, actor: StaffUser) -> bool:
    """Set or clear the next follow-up time (timezone-aware); False when nothing changed."""
    if when is not None and when.tzinfo is None:
        raise ValueError("follow-up time must be timezone-aware")
    if when is not None:
        when = when.astimezone(dt.UTC)
        # Minute precision: "now" typed into the form is not "in the past".
        if when < utcnow().replace(second=0, microsecond=0):
            raise LeadActionError("Choose a time in the future.", "date")
    if when == lead.next_follow_up_at:
        return False
    lead.next_follow_up_at = when
    if when is None:
        _activity(session, lead, "follow_up", actor, "Follow-up cleared.", at=None)
    else:
        _activity(session, lead, "follow_up", actor, "Follow-up set.", at=when.isoformat())
    session.flush()
    return True
