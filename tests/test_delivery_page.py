"""The delivery page: managers see what gave up or went nowhere, and retry it."""

from __future__ import annotations

from factories import set_config
from sqlalchemy import select

from leadform.context import get_sessionmaker, settings
from leadform.models import AuditEvent, OutboxMessage
from leadform.worker import deliver as worker


def run_once(app):
    with app.app_context():
        return worker.work(get_sessionmaker(), settings(), once=True)


def test_an_event_with_nobody_to_tell_is_shown_not_marked_sent(
    app, client, db, make_lead, login_as
):
    set_config(app, NOTIFY_EMAILS="")  # an unassigned lead, and no team address
    lead = make_lead(email="nobody@example.com")
    run_once(app)
    event = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "lead.created")).one()
    db.refresh(event)
    assert event.status == "no_recipient"
    login_as("manager")
    page = client.get("/staff/delivery").get_data(as_text=True)
    assert "Nobody to tell" in page
    assert f"/staff/leads/{lead.id}" in page
    assert "messages need attention" in page  # the header badge


def test_a_dead_message_is_listed_with_its_error_and_can_be_retried(
    app, client, db, make_lead, login_as
):
    set_config(app, NOTIFY_EMAILS="team@college.example")
    make_lead()
    run_once(app)  # the event becomes an email
    email = next(
        m
        for m in db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "email"))
        if m.payload["to"] == ["team@college.example"]
    )
    email.status, email.attempts, email.last_error = "dead", 8, "SMTP: connection refused"
    db.commit()
    login_as("manager")
    page = client.get("/staff/delivery").get_data(as_text=True)
    assert "Gave up" in page
    assert "SMTP: connection refused" in page
    assert "Email to team@college.example" in page
    response = client.post(f"/staff/delivery/{email.id}/retry")
    assert response.status_code == 303
    db.refresh(email)
    assert (email.status, email.attempts) == ("pending", 0)
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.retried")).one()
    assert "will be sent again" in client.get("/staff/delivery").get_data(as_text=True)
    # Only a message that gave up can be retried.
    again = client.post(f"/staff/delivery/{email.id}/retry", follow_redirects=True)
    assert "Only a message that gave up can be retried." in again.get_data(as_text=True)


def test_counselors_do_not_see_the_delivery_link(client, login_as):
    login_as("counselor")
    assert "/staff/delivery" not in client.get("/staff/").get_data(as_text=True)
    assert client.get("/staff/delivery").status_code == 403
