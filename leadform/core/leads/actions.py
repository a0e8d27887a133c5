"""Working a lead: status, owner, notes, contact attempts, follow-ups, one or in bulk.

Every change starts with lock_lead / lock_leads (load, lock, check the actor may) and
records a timeline Activity and an audit event. Use cases flush, never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from ...models import Activity, Lead, StaffUser
from ...vocab import (
    ASSIGNED,
    CONTACT_ATTEMPT,
    CONTACT_CHANNELS,
    CONTACT_OUTCOMES,
    FOLLOW_UP,
    LEAD_STATUSES,
    MESSAGE_ONLY_OUTCOMES,
    NOTE,
    STATUS_CHANGED,
    STATUS_LABELS,
)
from .. import audit, outbox
from ..audit import Actor
from ..errors import ActionError, Forbidden, NotFound
from ..intake.validation import bad_characters
from .permissions import can_assign as can_assign_lead
from .permissions import can_work_lead

MAX_NOTE_LENGTH = 5000
#: The most leads one bulk action changes (a page is 50; this leaves room, not a loophole).
MAX_BULK = 500

Permission = Callable[[StaffUser, Lead], bool]


def lock_leads(
    session: Session, lead_ids: Sequence[int], actor: Actor, allowed: Permission
) -> list[Lead]:
    """Load and lock the leads for a change; Forbidden unless the actor may make it on each.

    The one load-lock-check of every lead action, single or bulk. The row lock (FOR UPDATE
    on PostgreSQL; SQLite's write lock is taken at BEGIN) serializes two staff members
    changing the same lead, so neither works from a stale owner or status: a bulk reassign
    waits for a counselor's claim and then sees it. Locked in id order, so two bulk actions
    over overlapping leads cannot deadlock. populate_existing: a lead this session loaded
    before the lock is refreshed with what the lock returned.
    """
    user = actor.staff
    leads = list(
        session.scalars(
            select(Lead).where(Lead.id.in_(lead_ids)).order_by(Lead.id).with_for_update(),
            execution_options={"populate_existing": True},
        )
    )
    for lead in leads:
        if not allowed(user, lead):
            raise Forbidden("lead not workable by this user", lead_id=lead.id)
    return leads


def lock_lead(session: Session, lead_id: int, actor: Actor, allowed: Permission) -> Lead:
    """lock_leads for one lead; NotFound when there is no such lead."""
    leads = lock_leads(session, [lead_id], actor, allowed)
    if not leads:
        raise NotFound(f"lead {lead_id}")
    return leads[0]


def _clean_text(value: str, field: str, *, required: bool) -> str:
    """Trim a staff-written text; reject empty (when required), overlong or control characters.

    NUL cannot be stored in PostgreSQL text, and bidi overrides can disguise what a note says.
    """
    value = value.strip()
    if required and not value:
        raise ActionError("Write a note first.", field)
    if len(value) > MAX_NOTE_LENGTH:
        raise ActionError(f"Keep notes to {MAX_NOTE_LENGTH:,} characters.", field)
    if bad_characters(value, multiline=True):
        raise ActionError("Remove the special or invisible characters.", field)
    return value


def _activity(
    session: Session,
    lead: Lead,
    kind: str,
    actor: Actor,
    now: dt.datetime,
    body: str = "",
    **data: Any,
) -> Activity:
    activity = Activity(
        lead_id=lead.id, kind=kind, actor_id=actor.id, body=body, data=data, created_at=now
    )
    session.add(activity)
    audit.record(session, f"lead.{kind}", actor, target_type="lead", target_id=lead.id, **data)
    return activity


def _mark_contacted(lead: Lead, now: dt.datetime) -> None:
    """Speed-to-lead: the first contact attempt or first move out of "new" stops the clock."""
    if lead.first_contacted_at is None:
        lead.first_contacted_at = now


def change_status(
    session: Session, lead: Lead, status: str, actor: Actor, now: dt.datetime
) -> bool:
    """Move the lead to a status; False when it already had it."""
    if status not in LEAD_STATUSES:
        raise ActionError("Choose a status from the list.", "status")
    if status == lead.status:
        return False
    old = lead.status
    if old == "new":
        _mark_contacted(lead, now)
    lead.status = status
    _activity(
        session,
        lead,
        STATUS_CHANGED,
        actor,
        now,
        f"Status changed from {STATUS_LABELS[old]} to {STATUS_LABELS[status]}.",
        **{"from": old, "to": status},
    )
    session.flush()
    return True


def assign(
    session: Session, lead: Lead, owner: StaffUser | None, actor: Actor, now: dt.datetime
) -> bool:
    """Give the lead to a counselor (None: back to the unassigned queue)."""
    if owner is not None and not owner.active:
        raise ActionError("That staff member's account is not active.", "owner")
    new_id = owner.id if owner is not None else None
    if lead.owner_id == new_id:
        return False
    old_id = lead.owner_id
    lead.owner_id = new_id
    body = f"Assigned to {owner.name}." if owner is not None else "Unassigned."
    _activity(session, lead, ASSIGNED, actor, now, body, from_owner=old_id, to_owner=new_id)
    if owner is not None:  # the new owner is alerted (a counselor's own claim is not)
        outbox.lead_assigned(session, lead.id, owner, by=actor.id, now=now)
    session.flush()
    return True


def claim(session: Session, lead: Lead, actor: Actor, now: dt.datetime) -> bool:
    """A counselor takes an unassigned lead; False when it was already theirs.

    A conditional UPDATE, not check-then-set: when two counselors claim the same lead at
    once, exactly one gets it and the other is told.
    """
    user = actor.staff
    if lead.owner_id == user.id:
        return False
    taken = session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.owner_id.is_(None))
        .values(owner_id=user.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(lead)
    # Session.execute is typed to return a Result; a bulk UPDATE's is a CursorResult.
    assert isinstance(taken, CursorResult)  # noqa: S101
    if taken.rowcount != 1:
        if lead.owner_id == user.id:
            return False
        raise ActionError("Someone else has this lead already.")
    _activity(
        session,
        lead,
        ASSIGNED,
        actor,
        now,
        f"Claimed by {user.name}.",
        from_owner=None,
        to_owner=user.id,
    )
    session.flush()
    return True


def add_note(session: Session, lead: Lead, body: str, actor: Actor, now: dt.datetime) -> Activity:
    """Add a note to the timeline."""
    body = _clean_text(body, "body", required=True)
    activity = _activity(session, lead, NOTE, actor, now, body)
    session.flush()
    return activity


def log_contact(
    session: Session,
    lead: Lead,
    channel: str,
    outcome: str,
    note: str,
    actor: Actor,
    now: dt.datetime,
) -> Activity:
    """Record a call, email or text and its outcome; moves a new lead along."""
    if channel not in dict(CONTACT_CHANNELS):
        raise ActionError("Choose how you contacted them.", "channel")
    if outcome not in dict(CONTACT_OUTCOMES):
        raise ActionError("Choose the outcome.", "outcome")
    if channel == "call" and outcome in MESSAGE_ONLY_OUTCOMES:
        raise ActionError("For a call, choose reached, left a message or no answer.", "outcome")
    note = _clean_text(note, "note", required=False)
    _mark_contacted(lead, now)
    body = f"{dict(CONTACT_CHANNELS)[channel]}: {dict(CONTACT_OUTCOMES)[outcome]}."
    if note:
        body += f" {note}"
    activity = _activity(
        session, lead, CONTACT_ATTEMPT, actor, now, body, channel=channel, outcome=outcome
    )
    target = "contacted" if outcome == "reached" else "attempted"
    if lead.status == "new" or (lead.status == "attempted" and target == "contacted"):
        change_status(session, lead, target, actor, now)
    session.flush()
    return activity


def set_follow_up(
    session: Session, lead: Lead, when: dt.datetime | None, actor: Actor, now: dt.datetime
) -> bool:
    """Set or clear the next follow-up time (timezone-aware); False when nothing changed."""
    if when is not None and when.tzinfo is None:
        raise ValueError("follow-up time must be timezone-aware")
    if when is not None:
        when = when.astimezone(dt.UTC)
        # Minute precision: "now" typed into the form is not "in the past".
        if when < now.replace(second=0, microsecond=0):
            raise ActionError("Choose a time in the future.", "date")
    if when == lead.next_follow_up_at:
        return False
    lead.next_follow_up_at = when
    if when is None:
        _activity(session, lead, FOLLOW_UP, actor, now, "Follow-up cleared.", at=None)
    else:
        _activity(session, lead, FOLLOW_UP, actor, now, "Follow-up set.", at=when.isoformat())
    session.flush()
    return True


def _leads(n: int) -> str:
    return f"{n} lead" if n == 1 else f"{n} leads"


def _unchanged(n: int, already: str) -> str:
    """A sentence for a bulk action that changed none of the n leads selected."""
    if n == 0:
        return "No leads changed: the selected leads no longer exist."
    if n == 1:
        return f"No change: the selected lead was already {already}."
    return f"No leads changed: the {n} selected were already {already}."


def _also(done: str, unchanged: int, already: str) -> str:
    """The sentence of what changed, and of the selected leads that already were so."""
    if not unchanged:
        return f"{done}."
    return f"{done}; {_leads(unchanged)} {'was' if unchanged == 1 else 'were'} already {already}."


def bulk_assign(
    session: Session,
    lead_ids: Sequence[int],
    owner: StaffUser | None,
    actor: Actor,
    now: dt.datetime,
) -> str:
    """Assign the leads (locked, each checked) to `owner`; a sentence saying what changed.

    "Assigned 2 leads to Dana Whitfield.", "Moved 1 lead to the unassigned queue; 2 leads
    were already unassigned.", "No leads changed: the 3 selected were already unassigned."
    """
    leads = lock_leads(session, lead_ids, actor, can_assign_lead)
    changed = sum(assign(session, lead, owner, actor, now) for lead in leads)
    already = f"assigned to {owner.name}" if owner is not None else "unassigned"
    if not changed:
        return _unchanged(len(leads), already)
    if owner is None:
        done = f"Moved {_leads(changed)} to the unassigned queue"
    else:
        done = f"Assigned {_leads(changed)} to {owner.name}"
    return _also(done, len(leads) - changed, already)


def bulk_status(
    session: Session, lead_ids: Sequence[int], status: str, actor: Actor, now: dt.datetime
) -> str:
    """Move the leads (locked, each checked) to `status`; a sentence saying what changed.

    "Moved 1 lead to Contacted.", "No leads changed: the 3 selected were already Contacted."
    """
    if status not in LEAD_STATUSES:
        raise ActionError("Choose a status from the list.", "status")
    leads = lock_leads(session, lead_ids, actor, can_work_lead)
    changed = sum(change_status(session, lead, status, actor, now) for lead in leads)
    label = STATUS_LABELS[status]
    if not changed:
        return _unchanged(len(leads), label)
    return _also(f"Moved {_leads(changed)} to {label}", len(leads) - changed, label)
