"""The outbox worker: notifications and webhooks go out after commit, with retries."""

from __future__ import annotations

import base64
import datetime as dt
import email
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from factories import set_config
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leadform.context import get_sessionmaker, settings
from leadform.core import outbox
from leadform.db import utcnow
from leadform.models import OutboxMessage
from leadform.worker import deliver as worker
from leadform.worker import senders


def run_once(app) -> outbox.BatchResult:
    with app.app_context():
        return worker.work(get_sessionmaker(), settings(), once=True)


def mails(app) -> list[email.message.Message]:
    folder = Path(app.instance_path) / "mail"
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(f.read_bytes()) for f in files]


@pytest.fixture
def app_config(app_config, tmp_path):
    app_config["NOTIFY_EMAILS"] = "admissions@college.example, team@college.example"
    app_config["BASE_URL"] = "https://info.college.example"
    return app_config


@pytest.fixture(autouse=True)
def _instance_in_tmp(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    set_config(app)  # the mail folder follows the instance folder


class Receiver(BaseHTTPRequestHandler):
    """Records webhook requests; answers with the status in `self.server.status`.

    A status of 3xx answers with a Location to /elsewhere, which records a GET if followed.
    """

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers, body))
        self.send_response(self.server.status)
        if 300 <= self.server.status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.server.followed.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []
    server.followed = []
    server.status = 204
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_new_lead_notifies_team_once(app, make_lead, db):
    lead = make_lead(email="nina@example.com", first_name="Nina")
    result = run_once(app)
    assert result.delivered == 2  # the event, then its email
    sent = mails(app)
    assert len(sent) == 1
    assert sent[0]["To"] == "admissions@college.example, team@college.example"
    assert "Medical Billing and Coding Certificate" in sent[0]["Subject"]
    text = sent[0].get_payload()
    assert "Nina Jones" in text
    assert f"https://info.college.example/staff/leads/{lead.id}" in text
    assert "nina@example.com" not in text  # contact details stay behind the login
    assert run_once(app).total == 0
    assert len(mails(app)) == 1


def test_assigned_lead_notifies_its_owner(app, make_lead, make_staff, db):
    owner = make_staff("counselor", email="owner@staff.example.com")
    from leadform.core import routing
    from leadform.core.audit import Actor
    from leadform.core.intake.store import get_program

    routing.set_team(db, get_program(db, "master-health-informatics"), [(owner, 1)], Actor())
    db.commit()
    make_lead(program="master-health-informatics")
    run_once(app)
    assert [m["To"] for m in mails(app)] == ["owner@staff.example.com"]


SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def test_webhook_follows_standard_webhooks_and_verifies_with_its_library(app, make_lead, receiver):
    set_config(
        app,
        WEBHOOK_URL=f"http://127.0.0.1:{receiver.server_port}/hook",
        WEBHOOK_SECRET=SECRET,
    )
    lead = make_lead(email="wes@example.com")
    run_once(app)
    assert len(receiver.received) == 1
    headers, body = receiver.received[0]
    # The receiver's side: the standardwebhooks package verifies signature and timestamp.
    payload = Webhook(SECRET).verify(body, dict(headers.items()))
    assert payload["type"] == "lead.created"
    assert payload["id"] == headers["webhook-id"]  # one id, in the header and the body
    assert payload["data"]["lead"]["id"] == lead.id
    assert payload["data"]["prospect"]["email"] == "wes@example.com"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", dict(headers.items()))


def test_a_redirect_is_a_failure_never_followed_and_the_retry_keeps_the_id(
    app, make_lead, receiver, db
):
    set_config(
        app,
        WEBHOOK_URL=f"http://127.0.0.1:{receiver.server_port}/hook",
        WEBHOOK_SECRET=SECRET,
        NOTIFY_EMAILS="",
    )
    receiver.status = 302
    make_lead()
    assert run_once(app).failed == 1
    assert receiver.followed == []  # the POST was not turned into a GET elsewhere
    hook = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")).one()
    assert (hook.status, "redirect" in hook.last_error) == ("pending", True)

    receiver.status = 503  # then a receiver that is down
    hook.next_attempt_at = utcnow()
    db.commit()
    assert run_once(app).failed == 1

    receiver.status = 200  # then fine: delivered, with the same id every time
    db.expire_all()
    hook = db.get(OutboxMessage, hook.id)
    hook.next_attempt_at = utcnow()
    db.commit()
    assert run_once(app).delivered == 1
    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    assert len(receiver.received) == 3
    assert len(ids) == 1


def test_a_webhook_secret_not_in_the_standard_form_stops_start_up(app_config):
    from leadform import create_app

    with pytest.raises(RuntimeError, match="whsec_"):
        create_app({**app_config, "WEBHOOK_SECRET": "s3cret"})


def test_failed_webhook_is_retried_with_backoff_then_dead(app, make_lead, receiver, db):
    set_config(
        app,
        WEBHOOK_URL=f"http://127.0.0.1:{receiver.server_port}/hook",
        NOTIFY_EMAILS="",
        OUTBOX_MAX_ATTEMPTS=2,
    )
    receiver.status = 500
    make_lead()
    result = run_once(app)
    assert result.failed == 1
    hook = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")).one()
    assert hook.status == "pending"
    assert hook.attempts == 1
    assert "500" in hook.last_error
    assert hook.next_attempt_at > utcnow() + dt.timedelta(seconds=20)

    hook.next_attempt_at = utcnow()  # time passes
    db.commit()
    run_once(app)
    db.expire_all()
    hook = db.get(OutboxMessage, hook.id)
    assert hook.status == "dead"
    assert hook.attempts == 2
    assert len(receiver.received) == 2


def test_quarantined_submission_sends_nothing(app, submit, db):
    from factories import valid_form

    submit(valid_form(website="http://spam.example"))
    assert db.scalars(select(OutboxMessage)).all() == []
    db.rollback()  # SQLite: end this session's transaction so the worker can write
    assert run_once(app).total == 0
    assert mails(app) == []


def test_claims_do_not_overlap(app, make_lead, db):
    for n in range(4):
        make_lead(email=f"p{n}@example.com")
    maker = app.extensions["leadform.sessionmaker"]
    with app.app_context(), maker() as first, maker() as second:
        a = outbox.claim(first, 3, utcnow(), outbox.lease(settings()))
        first.commit()
        b = outbox.claim(second, 3, utcnow(), outbox.lease(settings()))
        second.commit()
    assert len(a) == 3
    assert len(b) == 1
    assert not {m.id for m in a} & {m.id for m in b}


def test_backoff_grows_and_is_capped():
    assert outbox.backoff(1) == dt.timedelta(seconds=30)
    assert outbox.backoff(2) == dt.timedelta(seconds=60)
    assert outbox.backoff(30) == dt.timedelta(hours=6)


def test_cli_work_once(app, make_lead):
    make_lead()
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert "2 delivered" in result.output
    status = app.test_cli_runner().invoke(args=["outbox", "status"])
    assert "sent: 2" in status.output


def test_smtp_login_refused_without_starttls(app, monkeypatch):
    """A server that does not offer STARTTLS never gets the password."""
    sent = {}

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent["connected"] = (host, port)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def ehlo(self):
            pass

        def has_extn(self, name):
            return False

        def login(self, user, password):
            sent["password"] = password

        def send_message(self, message):
            sent["message"] = message

    monkeypatch.setattr(senders.smtplib, "SMTP", FakeSMTP)
    config = set_config(app, SMTP_URL="smtp://user:secret@mail.example.com:587")
    with pytest.raises(senders.DeliveryError, match="STARTTLS"):
        senders.send_email(config, ["a@example.com"], "Hi", "Body")
    assert "password" not in sent
    assert "message" not in sent


class SlowHandler:
    """An aiosmtpd handler that takes its time over every message (a slow mail server)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's naming
        import asyncio

        await asyncio.sleep(self.delay)
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def slow_smtp():
    """A real SMTP server on a free local port that answers DATA slowly."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:  # a free port (aiosmtpd checks it can connect to it)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = SlowHandler(delay=0.4)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def test_two_workers_behind_a_slow_mail_server_send_each_message_once(
    app, make_lead, db, slow_smtp, monkeypatch
):
    controller, handler = slow_smtp
    # Scaled down: a 0.5 s timeout makes a 6 s lease, and the server takes 0.3 s (under
    # the timeout) over each message. Two dozen take one worker longer than a
    # lease: a worker leasing its whole batch at once would see the lease run out, and the
    # second worker would take over and re-send mail the first is still sending.
    monkeypatch.setattr(outbox, "MIN_LEASE_SECONDS", 0)
    handler.delay = 0.3
    set_config(
        app,
        SMTP_URL=f"smtp://127.0.0.1:{controller.port}",
        SMTP_TIMEOUT_SECONDS=0.5,
        WEBHOOK_TIMEOUT_SECONDS=0.5,
        NOTIFY_EMAILS="team@college.example",
    )
    for n in range(24):
        make_lead(email=f"slow{n}@example.com")
    with app.app_context():
        config = settings()
        maker = get_sessionmaker()
    assert outbox.lease(config) == dt.timedelta(seconds=6)
    errors: list[BaseException] = []

    deadline = time.monotonic() + 10

    def work() -> None:
        try:
            with app.app_context():
                while time.monotonic() < deadline:  # as a worker polls
                    worker.run_batch(maker, config, limit=24)
                    time.sleep(0.05)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(handler.messages) == 24  # one notification per lead, none twice
    statuses = {m.status for m in db.scalars(select(OutboxMessage))}
    assert statuses == {"sent"}


def test_a_stop_request_finishes_the_message_in_hand_and_claims_no_more(app, make_lead, db):
    for n in range(3):
        make_lead(email=f"stop{n}@example.com")
    calls = iter([False, True])  # stop after the first message
    with app.app_context():
        result = worker.run_batch(get_sessionmaker(), settings(), should_stop=lambda: next(calls))
    assert result.total == 1
    events = [m for m in db.scalars(select(OutboxMessage)) if m.kind == "lead.created"]
    # The other two are untouched: not leased, so another worker may take them at once.
    assert sorted((m.status, m.attempts) for m in events) == [
        ("pending", 0),
        ("pending", 0),
        ("sent", 1),
    ]
