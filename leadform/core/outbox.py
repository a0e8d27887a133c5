"""The transactional outbox: events written with the change they announce, delivered later.

Writing an event is part of the use case's transaction (so no lead is announced that was
not stored, and none stored goes unannounced). Claiming sets a lease (status "sending",
next_attempt_at in the future) that the worker commits before it talks to the world; a
worker that dies leaves the lease to expire and the message goes out again
(at-least-once: every message carries a stable event id). On PostgreSQL the claim uses
FOR UPDATE SKIP LOCKED, so several workers never take the same message.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Lead, OutboxMessage, StaffUser
from ..vocab import EVENT_KINDS, LEAD_CREATED, LEAD_RESUBMITTED
from .settings import Settings

log = logging.getLogger("leadform.outbox")

#: The fewest seconds a claim leases a message for.
MIN_LEASE_SECONDS = 60
#: Network steps one delivery may take, each bounded by its timeout: an SMTP conversation
#: (connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT..., DATA, QUIT) or a webhook POST.
DELIVERY_STEPS = 12


def lease(settings: Settings) -> dt.timedelta:
    """How long a claimed message is this worker's: longer than one delivery can take.

    Each step of a delivery times out on its own, so a delivery is bounded by steps x
    timeout; a lease longer than that means no second worker takes over a message that
    is still being sent, however slow the server (every step just under its timeout).
    """
    slowest = max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)
    return dt.timedelta(seconds=max(MIN_LEASE_SECONDS, DELIVERY_STEPS * slowest))


def lead_event(
    session: Session,
    *,
    created: bool,
    lead_id: int,
    submission_id: int,
    reopened: bool,
    now: dt.datetime,
) -> None:
    """Write the event for a stored submission: a new lead, or a returning one."""
    session.execute(
        OutboxMessage.__table__.insert(),
        {
            "kind": LEAD_CREATED if created else LEAD_RESUBMITTED,
            "payload": {"lead_id": lead_id, "submission_id": submission_id, "reopened": reopened},
            "created_at": now,
            "next_attempt_at": now,
        },
    )


def is_event(message: OutboxMessage) -> bool:
    """An event to expand into deliveries (rather than a delivery itself)."""
    return message.kind in EVENT_KINDS


@dataclass
class BatchResult:
    """What one pass of the worker did."""

    delivered: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        """Messages handled in this pass."""
        return self.delivered + self.failed + self.dead


def backoff(attempts: int) -> dt.timedelta:
    """Wait before retry number `attempts`: 30 s doubling, at most 6 hours."""
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def claim(
    session: Session, limit: int, now: dt.datetime, lease_for: dt.timedelta
) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to this worker (the caller commits).

    The worker claims one message at a time (limit=1), so each lease starts when its own
    delivery does; a batch leased at once would expire behind a slow server.
    """
    stmt = (
        select(OutboxMessage)
        .where(
            or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending"),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    messages = list(session.scalars(stmt))
    for message in messages:
        message.status = "sending"
        message.attempts += 1
        message.next_attempt_at = now + lease_for
    session.flush()
    return messages


def _lead_link(settings: Settings, lead_id: int) -> str:
    base = settings.base_url
    return base.rstrip("/") + f"/staff/leads/{lead_id}"


def expand_event(
    session: Session, message: OutboxMessage, settings: Settings
) -> list[OutboxMessage]:
    """Turn a lead event into its deliveries: a notification email and the webhook."""
    lead = session.get(Lead, message.payload.get("lead_id"))
    if lead is None:
        return []
    deliveries = []
    recipients = _recipients(session, lead, settings)
    if recipients:
        verb = "New" if message.kind == LEAD_CREATED else "Returning"
        # Only what a counselor needs to pick it up: the details stay behind the login.
        body = (
            f"{verb} request for information about {lead.program.name}.\n\n"
            f"Prospect: {lead.prospect.full_name}\n"
            f"Status: {lead.status}\n\n"
            f"Open the lead: {_lead_link(settings, lead.id)}\n"
        )
        deliveries.append(
            OutboxMessage(
                kind="email",
                payload={
                    "to": recipients,
                    "subject": f"{verb} lead: {lead.program.name}",
                    "body": body,
                },
            )
        )
    webhook_url = settings.webhook_url
    if webhook_url:
        prospect = lead.prospect
        deliveries.append(
            OutboxMessage(
                kind="webhook",
                payload={
                    "url": webhook_url,
                    # Standard Webhooks' shape: the id is the event's (stable across retries,
                    # the same in the webhook-id header), so a receiver can deduplicate.
                    "body": {
                        "id": message.event_id,
                        "type": message.kind,
                        "timestamp": message.created_at.isoformat(),
                        "data": {
                            "lead": {
                                "id": lead.id,
                                "status": lead.status,
                                "program": lead.program.slug,
                                "created_at": lead.created_at.isoformat(),
                                "submission_id": message.payload.get("submission_id"),
                            },
                            "prospect": {
                                "first_name": prospect.first_name,
                                "last_name": prospect.last_name,
                                "email": prospect.email,
                                "phone": prospect.phone,
                                "postal_code": prospect.postal_code,
                                "country": prospect.country,
                            },
                        },
                    },
                },
            )
        )
    return deliveries


def _recipients(session: Session, lead: Lead, settings: Settings) -> list[str]:
    """The lead's owner, or the configured team address(es) for unassigned leads."""
    if lead.owner_id is not None:
        owner = session.get(StaffUser, lead.owner_id)
        if owner is not None and owner.active:
            return [owner.email]
    return list(settings.notify_emails)


def record_result(
    message: OutboxMessage, error: str, max_attempts: int, result: BatchResult
) -> None:
    """After one attempt: sent, or back to pending with a backoff, or dead after the last."""
    now = utcnow()
    if not error:
        message.status = "sent"
        message.last_error = ""
        result.delivered += 1
    elif message.attempts >= max_attempts:
        message.status = "dead"
        message.last_error = error[:2000]
        result.dead += 1
        log.error(
            "outbox message %s gave up after %s attempts: %s", message.id, message.attempts, error
        )
    else:
        message.status = "pending"
        message.last_error = error[:2000]
        message.next_attempt_at = now + backoff(message.attempts)
        result.failed += 1
        log.warning(
            "outbox message %s failed (attempt %s): %s", message.id, message.attempts, error
        )
