"""The outbox worker: notifications and webhooks go out after commit, with retries."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from factories import set_config, valid_form
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from leadform.context import get_sessionmaker, settings
from leadform.core import outbox
from leadform.db import utcnow
from leadform.models import Lead, OutboxMessage, Submission
from leadform.worker import deliver as worker
from leadform.worker import senders


def run_once(app) -> outbox.BatchResult:
    with app.app_context():
        return worker.work(get_sessionmaker(), settings(), once=True)


def mails(app) -> list[email.message.Message]:
    folder = Path(app.instance_path) / "mail"
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]


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
        if self.server.delay:  # a receiver too slow to answer within the webhook timeout
            time.sleep(self.server.delay)
            self.server.timed_out.append(self.headers["webhook-id"])
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
    server.delay = 0.0
    server.timed_out = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def staff_mails(app) -> list[email.message.Message]:
    """The alerts (everything but the prospects' confirmations)."""
    return [m for m in mails(app) if not m["Subject"].startswith("Your request about")]


def confirmations(app) -> list[email.message.Message]:
    """The prospects' confirmations."""
    return [m for m in mails(app) if m["Subject"].startswith("Your request about")]


def test_new_lead_notifies_team_once(app, make_lead, db):
    lead = make_lead(email="nina@example.com", first_name="Nina")
    run_once(app)
    sent = staff_mails(app)
    assert len(sent) == 1
    assert sent[0]["To"] == "admissions@college.example, team@college.example"
    assert sent[0]["Subject"] == "New lead: Medical Billing and Coding Certificate"
    text = sent[0].get_content()
    assert "came in through the website form" in text
    assert f"https://info.college.example/staff/leads/{lead.id}" in text
    # No more personal data than needed: name and contact details stay behind the login.
    assert "nina@example.com" not in text
    assert "Nina" not in text
    assert run_once(app).total == 0
    assert len(staff_mails(app)) == 1


# --- where the link in the mail points ------------------------------------------------------


def mailed_link(app) -> str:
    """The "Open the lead" link of the one alert sent (the prospect's confirmation aside)."""
    [sent] = staff_mails(app)
    found = re.search(r"Open the lead: (\S+)", sent.get_content())
    assert found, sent.get_content()
    return found.group(1)


def test_in_development_the_link_follows_the_address_the_app_is_served_at(app, submit, db):
    """`make run PORT=8001` without LEADFORM_BASE_URL: the mail links to port 8001, not 5000."""
    set_config(app, BASE_URL=None)
    assert submit(base_url="http://127.0.0.1:8001").status_code == 303
    lead = db.scalars(select(Lead)).one()
    db.rollback()  # SQLite: end this session's transaction so the worker can write
    run_once(app)
    assert mailed_link(app) == f"http://127.0.0.1:8001/staff/leads/{lead.id}"


def test_a_released_request_links_to_the_address_the_manager_used(
    app, submit, client, db, login_as
):
    set_config(app, BASE_URL=None)
    submit(valid_form(website="https://autofill.example"))  # held as spam: nobody is told
    held = db.scalars(select(Submission)).one()
    login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/release", base_url="http://localhost:8001")
    assert response.status_code == 303
    lead = db.scalars(select(Lead)).one()
    db.rollback()
    run_once(app)
    assert mailed_link(app) == f"http://localhost:8001/staff/leads/{lead.id}"


def test_a_set_base_url_wins_over_the_address_the_app_is_served_at(app, submit, db):
    assert submit(base_url="http://127.0.0.1:8001").status_code == 303
    lead = db.scalars(select(Lead)).one()
    db.rollback()
    run_once(app)
    assert mailed_link(app) == f"https://info.college.example/staff/leads/{lead.id}"


def test_in_production_the_link_never_follows_the_request_host(app, submit, db):
    """The Host header is the visitor's to choose: a staff mail must not link where they said."""
    set_config(app, BASE_URL=None, ENV="production")
    assert submit(base_url="http://phish.example").status_code == 303
    lead = db.scalars(select(Lead)).one()
    for event in db.scalars(select(OutboxMessage)):
        assert "phish" not in json.dumps(event.payload)
    db.rollback()
    run_once(app)
    assert mailed_link(app) == f"http://127.0.0.1:5000/staff/leads/{lead.id}"


def test_link_base_without_a_served_address():
    from leadform.core.settings import Settings

    assert outbox.link_base(Settings()) == "http://127.0.0.1:5000"
    assert outbox.link_base(Settings(base_url="https://x.example/")) == "https://x.example"
    assert outbox.link_base(Settings(), "http://127.0.0.1:8001/") == "http://127.0.0.1:8001"
    production = Settings(env="production")
    assert outbox.link_base(production, "http://127.0.0.1:8001/") == "http://127.0.0.1:5000"


def test_assigned_lead_notifies_its_owner(app, make_lead, make_staff, db):
    owner = make_staff("counselor", email="owner@staff.example.com")
    from leadform.core import routing
    from leadform.core.audit import Actor
    from leadform.core.intake.store import get_program

    routing.set_team(db, get_program(db, "master-health-informatics"), [(owner, 1)], Actor())
    db.commit()
    make_lead(program="master-health-informatics")
    run_once(app)
    alerts = staff_mails(app)
    assert [m["To"] for m in alerts] == ["owner@staff.example.com"]
    assert alerts[0]["Subject"] == "Lead assigned to you: Master of Health Informatics"


def test_recipients_are_fixed_when_the_lead_arrives_not_when_the_worker_runs(
    app, client, make_lead, login_as, db
):
    lead = make_lead(email="early@example.com")  # unassigned: the team is told
    me = login_as("counselor")
    assert client.post(f"/staff/leads/{lead.id}/claim").status_code == 303
    run_once(app)  # the worker runs after the claim
    assert [m["To"] for m in staff_mails(app)] == [
        "admissions@college.example, team@college.example"
    ]
    assert me.email not in {m["To"] for m in mails(app)}  # no alert about her own claim


def test_a_managers_assignment_alerts_the_new_owner(app, client, make_lead, make_staff, login_as):
    lead = make_lead(email="handed@example.com")
    run_once(app)
    counselor = make_staff("counselor", email="dana@staff.example.com")
    login_as("manager")
    client.post(f"/staff/leads/{lead.id}/assign", data={"owner": str(counselor.id)})
    run_once(app)
    assigned = [m for m in staff_mails(app) if m["To"] == "dana@staff.example.com"]
    assert len(assigned) == 1
    assert assigned[0]["Subject"].startswith("Lead assigned to you")


def test_the_prospect_gets_one_confirmation_with_a_stop_link(app, client, make_lead, db):
    set_config(app, OFFICE_CONTACT="admissions@lakeside.example, (317) 555-0100")
    make_lead(email="conf@example.com", first_name="Conny")
    make_lead(email="conf@example.com")  # asks again within a day: no second confirmation
    run_once(app)
    sent = confirmations(app)
    assert len(sent) == 1
    message = sent[0]
    assert message["To"] == "conf@example.com"
    assert message["Subject"] == "Your request about Medical Billing and Coding Certificate"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hello Pat" in text  # the name as it was sent with the request
    assert "within one business day" in text
    assert "(317) 555-0100" in text
    assert "https://info.college.example/privacy" in text
    assert "Thank you, Pat." in html
    stop = message["List-Unsubscribe"].strip("<>")
    assert stop.startswith("https://info.college.example/email/stop/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert stop in text

    # One click from a mail client: a POST with no cookie and no form token (RFC 8058).
    path = stop.removeprefix("https://info.college.example")
    assert "Stop emails" in client.get(path).get_data(as_text=True)  # a GET changes nothing
    response = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "You won't get more emails" in response.get_data(as_text=True)
    from leadform.models import Prospect

    assert db.scalars(select(Prospect)).one().email_opt_out_at is not None
    # A later request about another program: no confirmation any more.
    make_lead(email="conf@example.com", program="master-health-informatics")
    run_once(app)
    assert len(confirmations(app)) == 1
    assert client.post("/email/stop/not-a-token").status_code == 404


def test_a_confirmation_names_the_counselor_once_assigned(app, make_lead, make_staff, db):
    owner = make_staff("counselor", name="Dana Whitfield")
    from leadform.core import routing
    from leadform.core.audit import Actor
    from leadform.core.intake.store import get_program

    routing.set_team(db, get_program(db, "master-health-informatics"), [(owner, 1)], Actor())
    db.commit()
    make_lead(email="named@example.com", program="master-health-informatics")
    run_once(app)
    (message,) = confirmations(app)
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Dana Whitfield, your enrollment counselor, will contact you" in text


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


def test_a_redirect_503_and_timeout_are_failures_and_the_retry_keeps_the_id(
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

    # Then one that takes longer than LEADFORM_WEBHOOK_TIMEOUT_SECONDS to answer.
    set_config(app, WEBHOOK_TIMEOUT_SECONDS=0.5)
    receiver.status, receiver.delay = 200, 1.0
    db.expire_all()
    hook = db.get(OutboxMessage, hook.id)
    hook.next_attempt_at = utcnow()
    db.commit()
    started = time.monotonic()
    assert run_once(app).failed == 1
    assert time.monotonic() - started < 0.95  # the worker gave up at the timeout
    db.expire_all()
    hook = db.get(OutboxMessage, hook.id)
    assert (hook.status, hook.attempts) == ("pending", 3)
    assert "timed out" in hook.last_error.lower()

    receiver.delay = 0.0  # then fine: delivered, with the same id every time
    time.sleep(0.6)  # the slow answer above has finished
    hook.next_attempt_at = utcnow()
    db.commit()
    assert run_once(app).delivered == 1
    ids = {headers["webhook-id"] for headers, _ in receiver.received}
    assert len(receiver.received) == 4
    assert len(ids) == 1
    assert receiver.timed_out == list(ids)
    # The delivery that went through verifies with the standardwebhooks package, and its
    # id is the one a receiver already saw: it can drop the repeat.
    headers, body = receiver.received[-1]
    payload = Webhook(SECRET).verify(body, dict(headers.items()))
    assert payload["id"] == headers["webhook-id"] == receiver.received[0][0]["webhook-id"]
    db.expire_all()
    assert db.get(OutboxMessage, hook.id).status == "sent"


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
    assert len(a) == 3  # 8 events: a new lead and a confirmation for each of 4 people
    assert len(b) == 3
    assert not {m.id for m in a} & {m.id for m in b}


def test_backoff_grows_and_is_capped():
    assert outbox.backoff(1) == dt.timedelta(seconds=30)
    assert outbox.backoff(2) == dt.timedelta(seconds=60)
    assert outbox.backoff(30) == dt.timedelta(hours=6)


def test_cli_work_once(app, make_lead):
    make_lead()
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert "4 delivered" in result.output  # two events, the alert and the confirmation
    status = app.test_cli_runner().invoke(args=["outbox", "status"])
    assert "sent: 4" in status.output


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
    handler.delay = 0.3
    set_config(
        app,
        OUTBOX_MIN_LEASE_SECONDS=0,
        SMTP_URL=f"smtp://127.0.0.1:{controller.port}",
        SMTP_TIMEOUT_SECONDS=0.5,
        WEBHOOK_TIMEOUT_SECONDS=0.5,
        NOTIFY_EMAILS="team@college.example",
    )
    for n in range(12):  # each: an alert and a confirmation
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
    assert len(handler.messages) == 24  # an alert and a confirmation per lead, none twice
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
