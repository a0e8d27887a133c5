"""The outbox worker: claim due messages, deliver them outside any transaction, record the result.

Claiming sets a lease (status "sending", next_attempt_at in the future) and commits, so no
database lock is held while SMTP or a webhook is slow. A worker that dies mid-delivery
leaves the lease to expire and the message is delivered again: at-least-once, which is
why every message carries a stable event id. Several workers can run at once: on
PostgreSQL the claim uses FOR UPDATE SKIP LOCKED; SQLite serializes writers anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ..core import outbox
from ..core.outbox import BatchResult
from ..core.settings import Settings
from ..db import utcnow
from ..models import OutboxMessage
from . import emails, senders

log = logging.getLogger(__name__)


def deliver(settings: Settings, kind: str, payload: dict[str, Any]) -> None:
    """Send one email or webhook; raise DeliveryError on failure."""
    if kind == "email" and "template" in payload:
        subject, text, html = emails.render(payload["template"], payload["context"])
        senders.send_email(
            settings, payload["to"], subject, text, html=html, headers=payload.get("headers")
        )
    elif kind == "email":
        senders.send_email(settings, payload["to"], payload["subject"], payload["body"])
    elif kind == "webhook":
        senders.post_webhook(settings, payload["url"], payload["body"])
    else:
        raise senders.DeliveryError(f"unknown message kind {kind!r}")


def _expand(session: Session, message: OutboxMessage, settings: Settings) -> None:
    """Add an event's deliveries to the session."""
    session.add_all(outbox.expand_event(session, message, settings))


def _attempt(work: Callable[[], object], message_id: int) -> str:
    """Run one delivery step; the error as text ("" when it went through)."""
    try:
        work()
    except senders.DeliveryError as exc:
        return str(exc)
    except Exception as exc:  # a bug must not stop the worker: keep it for retry
        log.exception("outbox message %s failed", message_id)
        return f"{type(exc).__name__}: {exc}"
    return ""


def run_batch(
    make_session: Callable[[], Session],
    settings: Settings,
    limit: int = 20,
    should_stop: Callable[[], bool] = lambda: False,
) -> BatchResult:
    """Deliver up to `limit` due messages, one claim at a time; returns what happened.

    Each message: a transaction to claim it (a lease for longer than a delivery can take,
    see outbox.lease, starting when its own delivery starts), committed before anything
    is sent; the delivery with no transaction open (on SQLite an open one would hold the
    write lock, and intake would wait for the mail server); then a transaction to record
    the result, unless another worker took the message over meanwhile. An event (a lead
    created...) is expanded into its deliveries inside a transaction: database work only.
    A stop request is honoured between messages: the one in hand is finished first.
    """
    result = BatchResult()
    max_attempts = settings.outbox_max_attempts
    lease_for = outbox.lease(settings)
    for _ in range(limit):
        if should_stop():
            break
        with make_session() as session:
            claimed = outbox.claim(session, 1, utcnow(), lease_for)
            if not claimed:
                session.commit()
                break
            message = claimed[0]
            message_id, attempt = message.id, message.attempts
            kind, payload = message.kind, dict(message.payload)
            event = outbox.is_event(message)
            session.commit()
        error = ""
        if not event:
            error = _attempt(partial(deliver, settings, kind, payload), message_id)
        with make_session() as session:
            current = session.get(OutboxMessage, message_id, with_for_update=True)
            if current is None or current.attempts != attempt:
                # Another worker took it over (this one stalled past the lease): the
                # outcome is theirs to record.
                log.warning("outbox message %s was taken over; not recording", message_id)
                session.rollback()
                continue
            if event:
                error = _attempt(partial(_expand, session, current, settings), message_id)
            outbox.record_result(current, error, max_attempts, result)
            outbox.record_email_sent(session, current, utcnow())
            session.commit()
    return result


def work(
    make_session: sessionmaker[Session],
    settings: Settings,
    *,
    once: bool = False,
    poll_seconds: float = 1.0,
    should_stop: Callable[[], bool] = lambda: False,
    **kwargs: Any,
) -> BatchResult:
    """Deliver until stopped (or one pass with once=True); returns the totals."""
    totals = BatchResult()
    while not should_stop():
        result = run_batch(make_session, settings, should_stop=should_stop, **kwargs)
        totals.delivered += result.delivered
        totals.failed += result.failed
        totals.dead += result.dead
        if once and result.total == 0:
            break
        if result.total == 0:
            time.sleep(poll_seconds)
    return totals
