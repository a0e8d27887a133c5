"""What was sent about a lead shows on its page: the timeline's emails, the email withdrawal."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from factories import set_config
from sqlalchemy import select

from leadform.context import get_sessionmaker, settings
from leadform.core import outbox
from leadform.db import utcnow
from leadform.models import Activity, OutboxMessage, Prospect
from leadform.worker import deliver as worker
from leadform.worker import senders


@pytest.fixture(autouse=True)
def _mail_in_tmp(app, tmp_path):
    app.instance_path = str(tmp_path / "instance")
    set_config(app, NOTIFY_EMAILS="admissions@college.example")


def run_worker(app) -> outbox.BatchResult:
    with app.app_context():
        return worker.work(get_sessionmaker(), settings(), once=True)


def timeline_entries(html: str) -> list[str]:
    """The timeline's entries as text, newest first."""
    section = html.split('id="timeline"', 1)[1]
    items = re.findall(r'<li class="lead-tl[^"]*">(.*?)</li>', section, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


def test_the_timeline_shows_each_email_sent_about_the_lead(
    app, client, make_lead, make_staff, login_as, db
):
    lead = make_lead(email="pat@example.com")
    manager = login_as("manager")
    page = client.get(f"/staff/leads/{lead.id}").get_data(as_text=True)
    assert not [e for e in timeline_entries(page) if "emailed" in e]  # nothing sent yet

    run_worker(app)
    entries = timeline_entries(client.get(f"/staff/leads/{lead.id}").get_data(as_text=True))
    emailed = [e for e in entries if "Email sent" in e]
    assert len(emailed) == 2, entries
    assert any("Confirmation emailed to pat@example.com" in e for e in emailed)
    assert any("New-lead alert emailed to admissions@college.example" in e for e in emailed)
    assert all("System" in e for e in emailed)  # not a person's action

    # An assignment by the manager: the owner's alert joins the timeline once delivered.
    dana = make_staff("counselor", email="dana@staff.example.com", name="Dana")
    client.post(f"/staff/leads/{lead.id}/assign", data={"owner": str(dana.id)})
    run_worker(app)
    entries = timeline_entries(client.get(f"/staff/leads/{lead.id}").get_data(as_text=True))
    assert "Assignment alert emailed to dana@staff.example.com" in entries[0]
    assert manager is not None

    # The counselor whose lead it is sees the same entries.
    client.post("/staff/logout")
    login_as(user=dana)
    entries = timeline_entries(client.get(f"/staff/leads/{lead.id}").get_data(as_text=True))
    assert len([e for e in entries if "Email sent" in e]) == 3


def test_a_failed_delivery_writes_nothing_until_it_is_sent(app, make_lead, db, monkeypatch):
    lead = make_lead(email="fail@example.com")

    def down(*args, **kwargs):
        raise senders.DeliveryError("SMTP: connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(senders, "send_email", down)
        run_worker(app)
    db.expire_all()
    kinds = [a.kind for a in db.scalars(select(Activity).where(Activity.lead_id == lead.id))]
    assert "email_sent" not in kinds
    # The retry time comes: each email goes out once, and is on the timeline once.
    with db.begin_nested():
        for message in db.scalars(select(OutboxMessage)):
            message.next_attempt_at = utcnow()
    db.commit()
    run_worker(app)
    db.expire_all()
    bodies = sorted(
        a.body
        for a in db.scalars(
            select(Activity).where(Activity.lead_id == lead.id, Activity.kind == "email_sent")
        )
    )
    assert bodies == [
        "Confirmation emailed to fail@example.com",
        "New-lead alert emailed to admissions@college.example",
    ]


def test_email_words_for_deliveries_written_before_they_named_their_event():
    assert outbox.email_words({"template": "confirmation"}) == "Confirmation"
    assert outbox.email_words({"subject": "New lead: Nursing"}) == "New-lead alert"
    assert outbox.email_words({"subject": "Returning lead: Nursing"}) == "Returning-lead alert"
    assert outbox.email_words({"subject": "Lead assigned to you: Nursing"}) == "Assignment alert"


def test_the_lead_page_and_the_export_show_an_email_withdrawal(
    app, client, make_lead, login_as, db
):
    lead = make_lead(email="stop@example.com")
    login_as("manager")
    page = client.get(f"/staff/leads/{lead.id}").get_data(as_text=True)
    assert "withdrawn" not in page

    run_worker(app)
    folder = Path(app.instance_path) / "mail"
    text = "\n".join(f.read_text() for f in folder.glob("*.eml"))
    stop = re.search(r"/email/stop/[A-Za-z0-9_.\-]+", text).group(0)
    assert client.post(stop, data={"List-Unsubscribe": "One-Click"}).status_code == 200

    db.expire_all()
    when = db.scalars(select(Prospect)).one().email_opt_out_at
    assert when is not None
    page = client.get(f"/staff/leads/{lead.id}").get_data(as_text=True)
    details = page.split('id="details-heading"', 1)[1].split("</dl>", 1)[0]
    match = re.search(r'id="email-withdrawn">(.*?)</div>', details, re.S)
    assert match, details
    shown = " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())
    assert shown.startswith("Email: withdrawn on ")
    assert str(when.astimezone(settings_tz(app)).year) in shown

    rows = list(
        csv.reader(
            io.StringIO(client.get("/staff/leads/export.csv").get_data(as_text=True), newline="")
        )
    )
    header, row = rows[0], rows[1]
    assert header[-1] == "email_opt_out_at"  # at the end: other columns keep their places
    record = dict(zip(header, row, strict=True))
    # Staff time with its offset, to the second, like every time in the export.
    staff_tz = ZoneInfo("America/Indiana/Indianapolis")
    assert record["email_opt_out_at"] == when.astimezone(staff_tz).isoformat(timespec="seconds")


def test_the_export_leaves_the_withdrawal_blank_while_email_is_allowed(client, make_lead, login_as):
    make_lead(email="ok@example.com")
    login_as("manager")
    rows = list(
        csv.reader(
            io.StringIO(client.get("/staff/leads/export.csv").get_data(as_text=True), newline="")
        )
    )
    assert dict(zip(rows[0], rows[1], strict=True))["email_opt_out_at"] == ""


def settings_tz(app):
    with app.app_context():
        return settings().staff_tz
