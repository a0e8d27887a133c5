"""Staff sign-in basics (the full matrix lives with the staff workspace tests)."""

from __future__ import annotations

from sqlalchemy import select

from leadform.models import AuditEvent


def test_anonymous_is_sent_to_login(client):
    response = client.get("/staff/")
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]


def test_login_logout_and_copied_cookie_stops_working(client, app, login_as, db):
    login_as("counselor")
    assert client.get("/staff/").status_code == 200
    copied = client.get_cookie("leadform_session").value
    client.post("/staff/logout")
    assert client.get("/staff/").status_code == 302
    other = app.test_client()
    other.set_cookie("leadform_session", copied)
    assert other.get("/staff/").status_code == 302
    actions = [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    # Viewing the queue is audited too ("queue.viewed"); only sign-in events matter here.
    assert [a for a in actions if a.startswith(("login", "logout"))][-2:] == ["login", "logout"]


def test_wrong_password_is_generic_and_audited(client, make_staff, db):
    user = make_staff("manager")
    bad = client.post("/staff/login", data={"email": user.email, "password": "nope"})
    unknown = client.post("/staff/login", data={"email": "x@example.com", "password": "nope"})
    assert bad.status_code == unknown.status_code == 401
    assert "don&#39;t match an active account" in bad.get_data(as_text=True)
    assert bad.get_data(as_text=True).count("match") == unknown.get_data(as_text=True).count(
        "match"
    )
    assert [e.action for e in db.scalars(select(AuditEvent))].count("login.failed") == 2


def test_staff_responses_are_not_cached(client, login_as):
    login_as()
    assert client.get("/staff/").headers["Cache-Control"] == "no-store"
    assert client.get("/staff/login").headers["Cache-Control"] == "no-store"
