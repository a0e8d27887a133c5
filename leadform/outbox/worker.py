"""The outbox worker: claim due messages, deliver them outside any transaction, record the result.

Claiming sets a lease (status "sending", next_attempt_at in the future) and commits, so no
database lock is held while SMTP or a webhook is slow. A worker that dies mid-delivery
leaves the lease to expire and the message is delivered again: at-least-once, which is
why every message carries a stable event id. Several workers can run at once: on
PostgreSQL the claim uses FOR UPDATE SKIP LOCKED; SQLite serializes writers anyway.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from ..db import utcnow
from ..models import Lead, OutboxMessage, StaffUser
from . import senders

log = logging.getLogger(__name__)

EVENT_KINDS = ("lead.created", "lead.resubmitted")
LEASE = dt.timedelta(minutes=5)


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


def claim(session: Session, limit: int, now: dt.datetime) -> list[OutboxMessage]:
    """Lease up to `limit` due messages to this worker (the caller commits)."""
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
        message.next_attempt_at = now + LEASE
    session.flush()
    return messages


def _lead_link(lead_id: int) -> str:
    base = current_app.config.get("BASE_URL") or "http://127.0.0.1:5000"
    return base.rstrip("/") + f"/staff/leads/{lead_id}"


def expand_event(session: Session, message: OutboxMessage) -> list[OutboxMessage]:
    """Turn a lead event into its deliveries: a notification email and the webhook."""
    lead = session.get(Lead, message.payload.get("lead_id"))
    if lead is None:
        return []
    deliveries = []
    recipients = _recipients(session, lead)
    if recipients:
        verb = "New" if message.kind == "lead.created" else "Returning"
        # Only what a counselor needs to pick it up: the details stay behind the login.
        body = (
            f"{verb} request for information about {lead.program.name}.\n\n"
            f"Prospect: {lead.prospect.full_name}\n"
            f"Status: {lead.status}\n\n"
            f"Open the lead: {_lead_link(lead.id)}\n"
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
    webhook_url = current_app.config.get("WEBHOOK_URL")
    if webhook_url:
        prospect = lead.prospect
        deliveries.append(
            OutboxMessage(
                kind="webhook",
                payload={
                    "url": webhook_url,
                    "body": {
                        "event": message.kind,
                        "event_id": message.event_id,
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
            )
        )
    return deliveries


def _recipients(session: Session, lead: Lead) -> list[str]:
    """The lead's owner, or the configured team address(es) for unassigned leads."""
    if lead.owner_id is not None:
        owner = session.get(StaffUser, lead.owner_id)
        if owner is not None and owner.active:
            return [owner.email]
    configured = current_app.config.get("NOTIFY_EMAILS") or ""
    if isinstance(configured, str):
        configured = [addr.strip() for addr in configured.split(",")]
    return [addr for addr in configured if addr]


def deliver(message: OutboxMessage) -> None:
    """Send one email or webhook; raise DeliveryError on failure."""
    if message.kind == "email":
        senders.send_email(
            message.payload["to"], message.payload["subject"], message.payload["body"]
        )
    elif message.kind == "webhook":
        senders.post_webhook(message.payload["url"], message.event_id, message.payload["body"])
    else:
        raise senders.DeliveryError(f"unknown message kind {message.kind!r}")


def run_batch(make_session: Callable[[], Session], limit: int = 20) -> BatchResult:
    """Claim, deliver and record one batch; returns what happened."""
    result = BatchResult()
    max_attempts = current_app.config["OUTBOX_MAX_ATTEMPTS"]
    with make_session() as session:
        claimed = claim(session, limit, utcnow())
        ids = [m.id for m in claimed]
        session.commit()
    for message_id in ids:
        with make_session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None:
                continue
            error = ""
            try:
                if message.kind in EVENT_KINDS:
                    session.add_all(expand_event(session, message))
                else:
                    deliver(message)
            except senders.DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a bug must not stop the worker: keep it for retry
                log.exception("outbox message %s failed", message.id)
                error = f"{type(exc).__name__}: {exc}"
            _record(message, error, max_attempts, result)
            session.commit()
    return result


def _record(message: OutboxMessage, error: str, max_attempts: int, result: BatchResult) -> None:
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


def work(
    make_session: sessionmaker[Session],
    *,
    once: bool = False,
    poll_seconds: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
    **kwargs: Any,
) -> BatchResult:
    """Deliver until stopped (or one pass with once=True); returns the totals."""
    totals = BatchResult()
    while not should_stop():
        result = run_batch(make_session, **kwargs)
        totals.delivered += result.delivered
        totals.failed += result.failed
        totals.dead += result.dead
        if once and result.total == 0:
            break
        if result.total == 0:
            time.sleep(poll_seconds)
    return totals
