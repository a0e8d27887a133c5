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
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ..core import outbox
from ..core.outbox import BatchResult
from ..core.settings import Settings
from ..db import utcnow
from ..models import OutboxMessage
from . import senders

log = logging.getLogger(__name__)


def deliver(settings: Settings, message: OutboxMessage) -> None:
    """Send one email or webhook; raise DeliveryError on failure."""
    if message.kind == "email":
        senders.send_email(
            settings, message.payload["to"], message.payload["subject"], message.payload["body"]
        )
    elif message.kind == "webhook":
        senders.post_webhook(settings, message.payload["url"], message.payload["body"])
    else:
        raise senders.DeliveryError(f"unknown message kind {message.kind!r}")


def run_batch(
    make_session: Callable[[], Session], settings: Settings, limit: int = 20
) -> BatchResult:
    """Claim, deliver and record one batch; returns what happened.

    Transactions: one to claim (committed before any delivery, so no lock is held while
    SMTP or a webhook is slow), then one per message to record its result.
    """
    result = BatchResult()
    max_attempts = settings.outbox_max_attempts
    with make_session() as session:
        claimed = outbox.claim(session, limit, utcnow())
        ids = [m.id for m in claimed]
        session.commit()
    for message_id in ids:
        with make_session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None:
                continue
            error = ""
            try:
                if outbox.is_event(message):
                    session.add_all(outbox.expand_event(session, message, settings))
                else:
                    deliver(settings, message)
            except senders.DeliveryError as exc:
                error = str(exc)
            except Exception as exc:  # a bug must not stop the worker: keep it for retry
                log.exception("outbox message %s failed", message.id)
                error = f"{type(exc).__name__}: {exc}"
            outbox.record_result(message, error, max_attempts, result)
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
        result = run_batch(make_session, settings, **kwargs)
        totals.delivered += result.delivered
        totals.failed += result.failed
        totals.dead += result.dead
        if once and result.total == 0:
            break
        if result.total == 0:
            time.sleep(poll_seconds)
    return totals
