"""`flask demo load`: a workspace full of plausible leads, made through the intake service."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select

from leadform.context import get_engine
from leadform.db import utcnow
from leadform.models import Activity, Lead, OutboxMessage, Prospect, StaffUser, Submission


def _load(app, *args):
    return app.test_cli_runner().invoke(args=["demo", "load", *args])


def _read(app, stmt):
    with app.app_context(), get_engine().connect() as conn:
        return conn.execute(stmt).all()


def _count(app, model):
    return _read(app, select(func.count()).select_from(model))[0][0]


def test_demo_load_fills_the_workspace(app):
    result = _load(app, "--leads", "60", "--seed", "3")
    assert result.exit_code == 0, result.output
    now = utcnow()

    # A demo team, with a password printed once that signs them in.
    password = re.search(r"password:\s+(\S+)", result.output).group(1)
    staff = _read(app, select(StaffUser.email, StaffUser.role, StaffUser.id))
    assert sorted(role for _, role, _ in staff) == ["counselor"] * 3 + ["manager"]
    counselor_email = next(email for email, role, _ in staff if role == "counselor")
    login = app.test_client().post(
        "/staff/login", data={"email": counselor_email, "password": password}
    )
    assert login.status_code == 303

    # 60 people; some asked again or about a second program.
    assert _count(app, Prospect) == 60
    leads = _read(app, select(Lead.status, Lead.owner_id, Lead.next_follow_up_at))
    submissions = _read(
        app, select(Submission.received_at, Submission.utm_source, Submission.utm_medium)
    )
    assert len(leads) >= 60
    assert len(submissions) > len(leads)
    names = _read(app, select(Prospect.first_name + Prospect.last_name))
    assert any(not name.isascii() for (name,) in names)
    phones = [p for (p,) in _read(app, select(Prospect.phone)) if p]
    assert phones
    assert all(re.fullmatch(r"\+1\d{3}55501\d\d", p) for p in phones)

    # Received over the last 60 days, from the usual sources.
    times = [received for received, _, _ in submissions]
    assert all(now - dt.timedelta(days=60, minutes=1) <= t <= now for t in times)
    assert max(times) - min(times) > dt.timedelta(days=20)
    assert min(times) < now - dt.timedelta(days=30)
    assert max(times) > now - dt.timedelta(hours=1)
    sources = {(source, medium) for _, source, medium in submissions}
    assert {("google", "cpc"), ("facebook", "social"), ("newsletter", "email"), ("", "")} <= sources

    # Worked by the demo counselors: statuses, owners, overdue and upcoming follow-ups.
    assert len({status for status, *_ in leads}) >= 5
    counselor_ids = {uid for _, role, uid in staff if role == "counselor"}
    owners = {owner for _, owner, *_ in leads}
    assert owners - {None} <= counselor_ids
    assert len(owners - {None}) == 3
    assert any(status == "new" and owner is None for status, owner, *_ in leads)
    follow_ups = [due for _, _, due in leads if due is not None]
    assert any(due < now for due in follow_ups)
    assert any(due > now for due in follow_ups)
    kinds = {kind for (kind,) in _read(app, select(Activity.kind))}
    assert {"submitted", "assigned", "contact_attempt", "status_changed", "note"} <= kinds
    # Made-up history notifies nobody.
    assert _count(app, OutboxMessage) == 0


def test_demo_timeline_is_in_order(app):
    assert _load(app, "--leads", "30", "--seed", "5").exit_code == 0
    rows = _read(
        app,
        select(Lead.created_at, Lead.first_contacted_at, Activity.created_at).join(
            Activity, Activity.lead_id == Lead.id
        ),
    )
    now = utcnow()
    for created, first_contact, happened in rows:
        assert created - dt.timedelta(minutes=1) <= happened <= now
        if first_contact is not None:
            assert created <= first_contact <= now


def test_demo_load_twice_adds_leads_but_no_second_team(app):
    first = _load(app, "--leads", "20")
    assert first.exit_code == 0, first.output
    leads = _count(app, Lead)
    second = _load(app, "--leads", "20")
    assert second.exit_code == 0, second.output
    assert "password" not in second.output
    assert _count(app, StaffUser) == 4
    assert _count(app, Lead) > leads


def test_demo_data_is_refused_in_production(app_config):
    from leadform import create_app

    app_config["ENV"] = "production"
    production = create_app(app_config)
    result = production.test_cli_runner().invoke(args=["demo", "load", "--leads", "5"])
    assert result.exit_code == 1
    assert "not for production" in result.output
