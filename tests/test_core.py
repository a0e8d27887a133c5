"""The core on its own: a Session and Settings, no Flask app, no request."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator

import pytest
from factories import PG_URL, PROGRAM, valid_form
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from leadform.core.accounts import users
from leadform.core.audit import Actor
from leadform.core.errors import Forbidden, ValidationFailed
from leadform.core.intake import submit
from leadform.core.intake.catalog import read_catalog
from leadform.core.intake.inquiry import Evidence
from leadform.core.leads import actions
from leadform.core.leads.permissions import can_work_lead
from leadform.core.programs import load_catalog
from leadform.core.programs import read_catalog as read_catalog_file
from leadform.core.settings import Settings
from leadform.db import Base, build_engine, utcnow
from leadform.models import Activity, AuditEvent, Lead, OutboxMessage, Submission

SETTINGS = Settings(secret_key="x" * 40, argon2_profile="CHEAPEST", min_form_seconds=3)


@pytest.fixture
def session(tmp_path) -> Iterator[Session]:
    """A Session on a fresh database, with the bundled catalog: no app anywhere."""
    if PG_URL:
        pytest.skip("the app-level suite covers PostgreSQL; this checks the core stands alone")
    engine = build_engine(f"sqlite:///{tmp_path}/core.db")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        load_catalog(session, read_catalog_file())
        session.commit()
        yield session
    engine.dispose()


def received(session: Session, *, age: float | None = None, **fields: object) -> submit.Received:
    """A submission as a door would hand it over."""
    consent = read_catalog(session).consent
    assert consent is not None
    return submit.Received(
        fields={**valid_form(), **fields},
        evidence=Evidence(ip="192.0.2.1", user_agent="core-test"),
        idempotency_key=f"core:{secrets.token_hex(6)}",
        consent=consent,
        form_age=age,
    )


def programs(session: Session) -> dict:
    return read_catalog(session).by_slug


def test_submit_stores_a_lead_and_its_event_and_flushes_without_committing(session):
    done = submit.submit(session, received(session), programs=programs(session), settings=SETTINGS)
    assert done.outcome is not None
    assert done.outcome.lead_created
    assert done.program is not None
    assert done.program.slug == PROGRAM
    assert session.scalar(select(OutboxMessage.kind)) == "lead.created"
    session.rollback()  # nothing was committed by the use case
    assert session.scalars(select(Lead)).all() == []


def test_submit_names_every_bad_field(session):
    with pytest.raises(ValidationFailed) as failed:
        submit.submit(
            session,
            received(session, email="nope", consent=None, program="no-such-program"),
            programs=programs(session),
            settings=SETTINGS,
        )
    assert set(failed.value.errors) == {"email", "consent", "program"}
    assert session.scalars(select(Submission)).all() == []


def test_submit_quarantines_a_quick_valid_form_and_tells_nobody(session):
    done = submit.submit(
        session, received(session, age=0.5), programs=programs(session), settings=SETTINGS
    )
    assert done.quarantined
    assert done.outcome is None
    stored = session.scalars(select(Submission)).one()
    assert (stored.spam_verdict, stored.spam_reasons, stored.lead_id) == (
        "quarantined",
        "too_fast",
        None,
    )
    assert session.scalars(select(OutboxMessage)).all() == []


def test_lead_actions_take_an_actor_and_a_time(session):
    done = submit.submit(session, received(session), programs=programs(session), settings=SETTINGS)
    assert done.outcome is not None
    counselor = users.create_user(
        session, "c@staff.example.com", "Cam", "counselor", "x" * 12, argon2_profile="CHEAPEST"
    )
    other = users.create_user(
        session, "o@staff.example.com", "Oli", "counselor", "x" * 12, argon2_profile="CHEAPEST"
    )
    lead_id = done.outcome.lead_id
    session.get(Lead, lead_id).owner_id = counselor.id
    when = dt.datetime(2026, 12, 1, 15, 0, tzinfo=dt.UTC)
    who = Actor(user=counselor, ip="198.51.100.4")

    lead = actions.lock_lead(session, lead_id, who, can_work_lead)
    assert actions.change_status(session, lead, "contacted", who, when)
    assert lead.first_contacted_at == when
    activity = session.scalars(select(Activity).where(Activity.kind == "status_changed")).one()
    assert activity.created_at == when
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "lead.status_changed"))
    assert audit.one().ip == "198.51.100.4"
    with pytest.raises(Forbidden):
        actions.lock_lead(session, lead_id, Actor(user=other), can_work_lead)


def test_the_activity_kind_check_refuses_a_made_up_kind(session):
    done = submit.submit(session, received(session), programs=programs(session), settings=SETTINGS)
    assert done.outcome is not None
    session.add(Activity(lead_id=done.outcome.lead_id, kind="gossip", created_at=utcnow()))
    with pytest.raises(Exception, match="CHECK constraint"):
        session.flush()
    session.rollback()
    assert session.execute(text("SELECT 1")).scalar() == 1
