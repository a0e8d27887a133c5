"""The transactional outbox: events written with the change they announce, delivered later.

Writing an event is part of the use case's transaction (so no lead is announced that was
not stored, and none stored goes unannounced). Claiming sets a lease (status "sending",
next_attempt_at in the future) that the worker commits before it talks to the world; a
worker that dies leaves the lease to expire and the message goes out again
(at-least-once: every message carries a stable event id). On PostgreSQL the claim uses
FOR UPDATE SKIP LOCKED, so several workers never take the same message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Table, func, or_, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Activity, Lead, OutboxMessage, StaffUser
from ..vocab import (
    EMAIL_SENT,
    EVENT_KINDS,
    LEAD_ASSIGNED,
    LEAD_CREATED,
    LEAD_RESUBMITTED,
    PROSPECT_CONFIRMATION,
)
from . import audit
from .audit import Actor
from .errors import ActionError, NotFound
from .prospect_email import opt_out_token
from .settings import DEFAULT_BASE_URL, Settings

log = logging.getLogger("leadform.outbox")

#: An event that found nobody to tell: recorded as such (the delivery page lists it).
NO_RECIPIENT = "no_recipient"
#: What expand_event leaves on an event nobody could be alerted about; record_result then
#: ends the message as NO_RECIPIENT instead of "sent".
NO_RECIPIENT_ERROR = "No recipient: the lead has no owner and no team address is set."

#: Network steps one delivery may take, each bounded by its timeout: an SMTP conversation
#: (connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT..., DATA, QUIT) or a webhook POST.
DELIVERY_STEPS = 12


def lease(settings: Settings) -> dt.timedelta:
    """How long a claimed message is this worker's: longer than one delivery can take.

    Each step of a delivery times out on its own, so a delivery is bounded by steps x
    timeout; a lease longer than that means no second worker takes over a message that
    is still being sent, however slow the server (every step just under its timeout).
    It is never shorter than LEADFORM_OUTBOX_MIN_LEASE_SECONDS (60).
    """
    slowest = max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)
    floor = settings.outbox_min_lease_seconds
    return dt.timedelta(seconds=max(floor, DELIVERY_STEPS * slowest))


@dataclass(frozen=True)
class Confirmation:
    """What the prospect's confirmation says, fixed when the request is stored."""

    to: str
    first_name: str
    program: str
    program_summary: str
    counselor: str | None


def message_table() -> Table:
    """The outbox's table: the submit path writes events with the submission's other rows."""
    return OutboxMessage.__table__


def lead_event_rows(
    *,
    created: bool,
    lead_id: int,
    submission_id: int,
    reopened: bool,
    channel: str,
    owner: StaffUser | None,
    team: tuple[str, ...],
    confirmation: Confirmation | None,
    now: dt.datetime,
    served_url: str | None = None,
) -> list[dict[str, object]]:
    """The outbox rows for a stored submission, each naming its recipients as they are now.

    A new or returning lead (the CRM's webhook; the counselor alert goes to the owner, or
    to the team address while nobody owns it); a lead routed to a counselor at intake also
    gets lead.assigned, which alerts them; and the prospect's confirmation. Recipients are
    fixed here, not looked up when the worker runs: a counselor who claims the lead before
    then does not get a "new lead" alert about her own claim. `served_url`: the address
    the web app was reached at, kept for the links in the mail when no LEADFORM_BASE_URL
    says where the app lives (see link_base).
    """
    alert_to = [owner.email] if owner is not None and owner.active else list(team)
    if created and owner is not None:
        alert_to = []  # lead.assigned tells the owner
    rows: list[dict[str, object]] = [
        {
            "kind": LEAD_CREATED if created else LEAD_RESUBMITTED,
            "payload": {
                "lead_id": lead_id,
                "submission_id": submission_id,
                "reopened": reopened,
                "channel": channel,
                "alert_to": alert_to,
                "alert": not (created and owner is not None),
            },
        }
    ]
    if created and owner is not None:
        rows.append(assigned_payload(lead_id, owner, by=None))
    if confirmation is not None:
        rows.append(
            {
                "kind": PROSPECT_CONFIRMATION,
                "payload": {"lead_id": lead_id, **dataclasses.asdict(confirmation)},
            }
        )
    if served_url:
        for row in rows:
            row["payload"]["served_url"] = served_url  # type: ignore[index]
    return [{**row, "created_at": now, "next_attempt_at": now} for row in rows]


def assigned_payload(lead_id: int, owner: StaffUser, *, by: int | None) -> dict[str, object]:
    """The lead.assigned event: the new owner is alerted (by: the staff member who assigned)."""
    return {
        "kind": LEAD_ASSIGNED,
        "payload": {
            "lead_id": lead_id,
            "owner_id": owner.id,
            "assigned_by": by,
            "alert_to": [owner.email] if owner.active else [],
            "alert": True,
        },
    }


def lead_assigned(
    session: Session, lead_id: int, owner: StaffUser, *, by: int | None, now: dt.datetime
) -> None:
    """Write lead.assigned for a manager's (or a bulk) assignment; a claim writes none."""
    row = assigned_payload(lead_id, owner, by=by)
    session.add(
        OutboxMessage(kind=row["kind"], payload=row["payload"], created_at=now, next_attempt_at=now)
    )


def served_url_to_keep(settings: Settings, served_url: str | None) -> str | None:
    """The request's address to record on an event: only in development without a BASE_URL.

    In production the Host header is the client's to choose, and a link in a staff email
    must not point wherever a visitor said; there LEADFORM_BASE_URL is the only source.
    """
    if settings.production or settings.base_url:
        return None
    return served_url or None


def link_base(settings: Settings, served_url: object = None) -> str:
    """The address links in mail start with, without a trailing slash.

    LEADFORM_BASE_URL when set; else, outside production, the address the web app was
    served at when the event was written (so `make run PORT=8001` mails links to port 8001,
    whoever runs the worker); else DEFAULT_BASE_URL (production warns at start-up).
    """
    if settings.base_url:
        return settings.base_url.rstrip("/")
    if isinstance(served_url, str) and served_url and not settings.production:
        return served_url.rstrip("/")
    return DEFAULT_BASE_URL


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


#: How a request arrived, as an alert says it.
CHANNEL_WORDS = {
    "form": "the website form",
    "embed": "a form on another site",
    "api": "a landing page",
}


def expand_event(
    session: Session, message: OutboxMessage, settings: Settings
) -> list[OutboxMessage]:
    """Turn an event into its deliveries: an alert or a confirmation email, and the webhook.

    An alert names the program, how the person asked and a link to the lead: the person's
    details stay behind the sign-in. Recipients come from the event (fixed when it was
    written); an event written before they were kept looks them up now.
    """
    payload = message.payload
    lead = session.get(Lead, payload.get("lead_id"))
    if lead is None:
        return []
    if message.kind == PROSPECT_CONFIRMATION:
        return _confirmation(message, lead, settings)
    deliveries = []
    alert = bool(payload.get("alert", True))
    recipients = (
        list(payload["alert_to"]) if "alert_to" in payload else _recipients(session, lead, settings)
    )
    if alert and not recipients:
        # Nobody to alert (no owner, no team address): said on the delivery page, not "sent".
        message.last_error = NO_RECIPIENT_ERROR
    if alert and recipients:
        program = lead.program.name
        link = link_base(settings, payload.get("served_url")) + f"/staff/leads/{lead.id}"
        how = CHANNEL_WORDS.get(str(payload.get("channel", "")), "the website")
        if message.kind == LEAD_ASSIGNED:
            subject, line = (
                f"Lead assigned to you: {program}",
                f"A lead for {program} is now yours.",
            )
        elif message.kind == LEAD_CREATED:
            subject = f"New lead: {program}"
            line = f"A new request for information about {program} came in through {how}."
        else:
            subject = f"Returning lead: {program}"
            line = f"Someone asked again about {program}, through {how}."
            if payload.get("reopened"):
                line += " Their closed lead is open again."
        deliveries.append(
            OutboxMessage(
                kind="email",
                payload={
                    "to": recipients,
                    "subject": subject,
                    "body": f"{line}\n\nOpen the lead: {link}\n",
                    "lead_id": lead.id,
                    "event": message.kind,
                },
            )
        )
    webhook_url = settings.webhook_url
    if webhook_url:
        deliveries.append(_webhook(message, lead, webhook_url))
    return deliveries


def _confirmation(message: OutboxMessage, lead: Lead, settings: Settings) -> list[OutboxMessage]:
    """The prospect's confirmation email, unless they asked for no more email since."""
    if lead.prospect.email_opt_out_at is not None:
        return []
    payload = message.payload
    base = link_base(settings, payload.get("served_url"))
    stop_url = f"{base}/email/stop/{opt_out_token(settings, lead.prospect_id)}"
    context = {
        "first_name": payload.get("first_name", ""),
        "program": payload.get("program", ""),
        "program_summary": payload.get("program_summary", ""),
        "counselor": payload.get("counselor"),
        "response_time": settings.response_time,
        "office_contact": settings.office_contact,
        "site_name": settings.site_name,
        "privacy_url": settings.privacy_url or f"{base}/privacy",
        "stop_url": stop_url,
    }
    return [
        OutboxMessage(
            kind="email",
            payload={
                "to": [payload["to"]],
                "template": "confirmation",
                "context": context,
                # RFC 8058: a mail client's one-click unsubscribe POSTs to the link.
                "headers": {
                    "List-Unsubscribe": f"<{stop_url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                "lead_id": lead.id,
                "event": PROSPECT_CONFIRMATION,
            },
        )
    ]


def _webhook(message: OutboxMessage, lead: Lead, url: str) -> OutboxMessage:
    """The webhook delivery of a lead event (Standard Webhooks' body shape)."""
    prospect = lead.prospect
    return OutboxMessage(
        kind="webhook",
        payload={
            "url": url,
            # The id is the event's (stable across retries, the same in the webhook-id
            # header), so a receiver can deduplicate.
            "body": {
                "id": message.event_id,
                "type": message.kind,
                "timestamp": message.created_at.isoformat(),
                "data": {
                    "lead": {
                        "id": lead.id,
                        "status": lead.status,
                        "program": lead.program.slug,
                        "owner_id": lead.owner_id,
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


def _recipients(session: Session, lead: Lead, settings: Settings) -> list[str]:
    """The lead's owner, or the configured team address(es) for unassigned leads."""
    if lead.owner_id is not None:
        owner = session.get(StaffUser, lead.owner_id)
        if owner is not None and owner.active:
            return [owner.email]
    return list(settings.notify_emails)


#: What an email about a lead was, as its timeline entry says it (by the event it came from).
EMAIL_WORDS = {
    PROSPECT_CONFIRMATION: "Confirmation",
    LEAD_CREATED: "New-lead alert",
    LEAD_RESUBMITTED: "Returning-lead alert",
    LEAD_ASSIGNED: "Assignment alert",
}


def email_words(payload: dict[str, object]) -> str:
    """What an email delivery was ("Confirmation", "New-lead alert"...).

    Deliveries expanded before they named their event are told apart by template or subject.
    """
    event = payload.get("event")
    if isinstance(event, str) and event in EMAIL_WORDS:
        return EMAIL_WORDS[event]
    subject = str(payload.get("subject", ""))
    if payload.get("template") == "confirmation":
        return EMAIL_WORDS[PROSPECT_CONFIRMATION]
    for prefix, event_kind in (
        ("New lead", LEAD_CREATED),
        ("Returning lead", LEAD_RESUBMITTED),
        ("Lead assigned", LEAD_ASSIGNED),
    ):
        if subject.startswith(prefix):
            return EMAIL_WORDS[event_kind]
    return "Email"


def record_email_sent(session: Session, message: OutboxMessage, now: dt.datetime) -> None:
    """Put a delivered email about a lead on the lead's timeline: what, to whom, when.

    Called by the worker in the transaction that records the delivery as sent (never
    while sending), so the entry exists exactly when the message is marked sent.
    """
    payload = message.payload or {}
    if message.kind != "email" or message.status != "sent" or "lead_id" not in payload:
        return
    lead_id = payload["lead_id"]
    if not isinstance(lead_id, int) or session.get(Lead, lead_id) is None:
        return  # the lead was deleted meanwhile
    to = [str(address) for address in payload.get("to") or []]
    what = email_words(payload)
    session.add(
        Activity(
            lead_id=lead_id,
            kind=EMAIL_SENT,
            actor_id=None,
            body=f"{what} emailed to {', '.join(to)}",
            data={"to": to, "what": what, "outbox_message_id": message.id},
            created_at=now,
        )
    )


def record_result(
    message: OutboxMessage, error: str, max_attempts: int, result: BatchResult
) -> None:
    """After one attempt: sent, or back to pending with a backoff, or dead after the last."""
    now = utcnow()
    if not error and is_event(message) and message.last_error == NO_RECIPIENT_ERROR:
        message.status = NO_RECIPIENT
        result.delivered += 1
    elif not error:
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


#: Views of the delivery page and the statuses each lists.
DELIVERY_VIEWS: dict[str, tuple[str, ...]] = {
    "attention": ("dead", NO_RECIPIENT),
    "pending": ("pending", "sending"),
    "sent": ("sent",),
}
DELIVERY_PAGE_SIZE = 50
#: Counting stops here ("100+"): the header badge only needs to say "something is wrong".
DEAD_COUNT_CAP = 100


@dataclass(frozen=True)
class DeliveryPage:
    """One page of outbox messages, newest first, and where the next page starts."""

    messages: list[OutboxMessage]
    next_cursor: int | None


def delivery_page(session: Session, view: str, *, after: int | None) -> DeliveryPage:
    """Messages in one view of the delivery page, newest first (keyset paged by id)."""
    statuses = DELIVERY_VIEWS.get(view, DELIVERY_VIEWS["attention"])
    stmt = select(OutboxMessage).where(OutboxMessage.status.in_(statuses))
    if after is not None:
        stmt = stmt.where(OutboxMessage.id < after)
    found = list(
        session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(DELIVERY_PAGE_SIZE + 1))
    )
    cursor = found[DELIVERY_PAGE_SIZE - 1].id if len(found) > DELIVERY_PAGE_SIZE else None
    return DeliveryPage(found[:DELIVERY_PAGE_SIZE], cursor)


def dead_count(session: Session) -> int:
    """How many messages gave up (or found nobody to go to), up to DEAD_COUNT_CAP + 1."""
    capped = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status.in_(DELIVERY_VIEWS["attention"]))
        .limit(DEAD_COUNT_CAP + 1)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(capped)) or 0


def retry(session: Session, message_id: int, actor: Actor, now: dt.datetime) -> OutboxMessage:
    """Send a dead message again from now, with a fresh count of attempts."""
    message = session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        raise NotFound(f"outbox message {message_id}")
    if message.status != "dead":
        raise ActionError("Only a message that gave up can be retried.")
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = now
    audit.record(
        session,
        "outbox.retried",
        actor,
        target_type="outbox_message",
        target_id=message.id,
        kind=message.kind,
        last_error=message.last_error[:200],
    )
    session.flush()
    return message


def summary(message: OutboxMessage) -> str:
    """What a message is, in a line, without personal data: the kind and where it goes."""
    payload = message.payload or {}
    if message.kind == "email":
        to = payload.get("to") or []
        return f"Email to {', '.join(str(t) for t in to)}: {payload.get('subject', '')}"
    if message.kind == "webhook":
        return f"Webhook to {urlsplit(str(payload.get('url', ''))).netloc}"
    return f"Event {message.kind} (lead {payload.get('lead_id', '?')})"
