"""Delivery against real servers: a mail server down then back, several workers, a killed worker.

Nothing here is faked: aiosmtpd is a real SMTP server, the worker is the real one (in a
subprocess for the kill), and the submissions go through the web form.
"""

from __future__ import annotations

import collections
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from factories import PG_URL, hidden_fields, set_config, valid_form
from sqlalchemy import select, update

from leadform.context import get_sessionmaker, settings
from leadform.db import utcnow
from leadform.models import OutboxMessage
from leadform.worker import deliver as worker

ROOT = Path(__file__).resolve().parent.parent
TEAM = "admissions@college.example"


class Recorder:
    """An aiosmtpd handler keeping (recipient, subject, lead) per message it accepted.

    `delay` makes it slow (seconds in DATA); `started` is set when a DATA begins.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.started = threading.Event()
        self.received: list[tuple[str, str, str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        import asyncio

        self.started.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"/staff/leads/(\d+)", text)
        about = link.group(1) if link else ""
        for rcpt in envelope.rcpt_tos:
            self.received.append((rcpt, str(message["Subject"]), about))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_smtp(port: int, handler: Recorder):
    from aiosmtpd.controller import Controller

    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def run_once(app):
    with app.app_context():
        return worker.work(get_sessionmaker(), settings(), once=True)


def due_now(db) -> None:
    """Skip the backoff: every waiting message is due now (as it would be, later)."""
    db.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    db.commit()


def test_submissions_are_fast_while_the_mail_server_hangs_and_all_go_out_once_it_is_back(
    app, client, db
):
    port = free_port()
    set_config(app, SMTP_URL=f"smtp://127.0.0.1:{port}", SMTP_TIMEOUT_SECONDS=3, NOTIFY_EMAILS=TEAM)
    # A mail server that accepts connections and never answers: any SMTP call made inside
    # a request would take the whole 3 s timeout.
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", port))
    hung.listen(100)
    slowest = 0.0
    try:
        for n in range(50):
            page = client.get("/request-info").get_data(as_text=True)
            fields = hidden_fields(page)
            fields.pop("program", None)
            started = time.monotonic()
            response = client.post(
                "/request-info",
                data={**fields, **valid_form(email=f"down{n}@example.com")},
                headers={"Referer": "http://localhost/request-info"},
            )
            slowest = max(slowest, time.monotonic() - started)
            assert response.status_code == 303, response.get_data(as_text=True)[:500]
    finally:
        hung.close()
    assert slowest < 1.0, f"a submission took {slowest:.2f} s: something waited on SMTP"
    events = list(db.scalars(select(OutboxMessage)))
    assert len(events) == 100  # lead.created and the confirmation, per submission
    assert {m.status for m in events} == {"pending"}
    db.rollback()  # end the read (on SQLite every transaction takes the write lock)

    # A worker pass while the server is down (refusing now): every email fails and waits.
    result = run_once(app)
    assert (result.failed, result.dead) == (100, 0)
    db.expire_all()
    emails = list(db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email")))
    assert len(emails) == 100
    assert {(m.status, m.attempts) for m in emails} == {("pending", 1)}
    assert all("SMTP" in m.last_error for m in emails)
    db.rollback()

    # The server is back: one worker run delivers each message once per recipient.
    handler = Recorder()
    controller = start_smtp(port, handler)
    try:
        due_now(db)
        assert run_once(app).delivered == 100
    finally:
        controller.stop()
    counts = collections.Counter(handler.received)
    assert len(counts) == 100
    assert set(counts.values()) == {1}
    assert sum(1 for rcpt, _, _ in counts if rcpt == TEAM) == 50  # an alert per lead
    assert {rcpt for rcpt, _, _ in counts if rcpt != TEAM} == {
        f"down{n}@example.com" for n in range(50)
    }
    db.expire_all()
    assert {m.status for m in db.scalars(select(OutboxMessage))} == {"sent"}


@pytest.mark.skipif(not PG_URL, reason="several workers at once need PostgreSQL's SKIP LOCKED")
def test_four_workers_on_postgresql_deliver_nothing_twice(app, make_lead, db):
    from http.server import ThreadingHTTPServer

    from test_outbox import SECRET, Receiver  # the real HTTP receiver

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    hook.received, hook.followed, hook.status, hook.delay, hook.timed_out = [], [], 204, 0.0, []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    handler = Recorder()
    controller = start_smtp(free_port(), handler)
    try:
        set_config(
            app,
            SMTP_URL=f"smtp://127.0.0.1:{controller.port}",
            NOTIFY_EMAILS=TEAM,
            WEBHOOK_URL=f"http://127.0.0.1:{hook.server_port}/hook",
            WEBHOOK_SECRET=SECRET,
        )
        for n in range(30):
            make_lead(email=f"pg{n}@example.com")
        with app.app_context():
            config, maker = settings(), get_sessionmaker()
        errors: list[BaseException] = []
        start = threading.Barrier(4)

        def work() -> None:
            try:
                with app.app_context():
                    start.wait()
                    # Each its own sessions (the sessionmaker makes one per step).
                    while worker.run_batch(maker, config, limit=50).total:
                        pass
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
    finally:
        controller.stop()
        hook.shutdown()
        hook.server_close()
    counts = collections.Counter(handler.received)
    assert len(counts) == 60  # an alert and a confirmation per lead
    assert set(counts.values()) == {1}
    ids = collections.Counter(headers["webhook-id"] for headers, _ in hook.received)
    assert len(ids) == 30
    assert set(ids.values()) == {1}
    db.expire_all()
    assert {m.status for m in db.scalars(select(OutboxMessage))} == {"sent"}


def worker_process(app, port: int, *, once: bool = False) -> subprocess.Popen[bytes]:
    """`flask --app wsgi outbox work` as an operator runs it, on the test's database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFORM_")}
    env.update(
        LEADFORM_DATABASE_URL=app.config["DATABASE_URL"],
        LEADFORM_SECRET_KEY=app.config["SECRET_KEY"],
        LEADFORM_SMTP_URL=f"smtp://127.0.0.1:{port}",
        LEADFORM_NOTIFY_EMAILS=TEAM,
        LEADFORM_SMTP_TIMEOUT_SECONDS="0.5",
        LEADFORM_WEBHOOK_TIMEOUT_SECONDS="0.5",
        LEADFORM_OUTBOX_MIN_LEASE_SECONDS="0",  # a 6 s lease (12 steps x 0.5 s)
        LEADFORM_BASE_URL="https://info.college.example",
    )
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "work"]
    if once:
        command.append("--once")
    return subprocess.Popen(  # noqa: S603 - our own command line, no shell
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_a_worker_killed_mid_delivery_loses_nothing(app, make_lead, db):
    handler = Recorder(delay=0.4)  # under the 0.5 s timeout: slow, not failing
    controller = start_smtp(free_port(), handler)
    set_config(app, NOTIFY_EMAILS=TEAM)  # the alerts' recipients are fixed as leads arrive
    try:
        for n in range(4):
            make_lead(email=f"kill{n}@example.com")
        db.commit()
        first = worker_process(app, controller.port)
        try:
            assert handler.started.wait(timeout=60), "the worker never reached the mail server"
            # It claimed a message and is in the middle of sending it: kill it now.
            first.send_signal(signal.SIGKILL)
        finally:
            first.wait(timeout=30)
            assert first.stdout is not None
            first.stdout.close()
        assert first.returncode == -signal.SIGKILL
        db.expire_all()
        statuses = collections.Counter(m.status for m in db.scalars(select(OutboxMessage)))
        assert statuses["sending"] == 1, statuses  # leased to the dead worker, not recorded
        assert statuses["pending"] >= 1, statuses  # killed early: work was left for the next
        db.rollback()

        time.sleep(6.5)  # the dead worker's lease runs out
        second = worker_process(app, controller.port, once=True)
        output, _ = second.communicate(timeout=120)
        assert second.returncode == 0, output.decode()
        time.sleep(0.5)  # the killed worker's message finished arriving meanwhile
    finally:
        controller.stop()
    db.expire_all()
    messages = list(db.scalars(select(OutboxMessage)))
    assert {m.status for m in messages} == {"sent"}
    assert len([m for m in messages if m.kind == "email"]) == 8
    received = collections.Counter((rcpt, subject) for rcpt, subject, _ in handler.received)
    expected = {f"kill{n}@example.com" for n in range(4)} | {TEAM}
    assert {rcpt for rcpt, _ in received} == expected
    assert sum(n for (rcpt, _), n in received.items() if rcpt != TEAM) >= 4
    assert sum(n for (rcpt, _), n in received.items() if rcpt == TEAM) >= 4
    # At least once: the message in flight when the worker died may have arrived twice.
    assert len(handler.received) in (8, 9)
