"""Lead actions load, lock and check the lead: a bulk reassign racing a claim never loses it.

The race needs row locks, so it runs on PostgreSQL (SQLite takes the whole database's write
lock at BEGIN, which serializes these anyway).
"""

from __future__ import annotations

import threading

import pytest
from factories import PG_URL
from sqlalchemy import select

from leadform.context import get_sessionmaker
from leadform.core.audit import Actor
from leadform.core.leads import actions
from leadform.core.leads.permissions import can_claim
from leadform.db import utcnow
from leadform.models import Activity, Lead, StaffUser
from leadform.vocab import ASSIGNED


@pytest.mark.skipif(not PG_URL, reason="row locks need PostgreSQL")
def test_bulk_reassign_waits_for_a_claim_and_records_whose_lead_it_took(
    app, db, make_lead, make_staff
):
    counselor = make_staff("counselor")
    other = make_staff("counselor")
    manager = make_staff("manager")
    lead_id = make_lead().id
    ids = {"counselor": counselor.id, "other": other.id, "manager": manager.id}
    factory = get_sessionmaker()
    bulk_done = threading.Event()
    errors: list[BaseException] = []

    def bulk_reassign() -> None:
        try:
            with app.app_context(), factory() as session:
                who = Actor(user=session.get(StaffUser, ids["manager"]))
                target = session.get(StaffUser, ids["other"])
                # Loads the lead before the claim commits (as the queue page did): the lock
                # must make it wait and then see the claim.
                session.scalars(select(Lead).where(Lead.id == lead_id)).one()
                actions.bulk_assign(session, [lead_id], target, who, utcnow())
                session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            bulk_done.set()

    with factory() as claiming:
        who = Actor(user=claiming.get(StaffUser, ids["counselor"]))
        lead = actions.lock_lead(claiming, lead_id, who, can_claim)
        thread = threading.Thread(target=bulk_reassign)
        thread.start()
        # The bulk action is blocked on the claim's row lock, not done behind its back.
        assert not bulk_done.wait(1.0)
        assert actions.claim(claiming, lead, who, utcnow())
        claiming.commit()
    thread.join(timeout=30)
    assert not errors, errors

    db.expire_all()
    steps = [
        (a.data["from_owner"], a.data["to_owner"])
        for a in db.scalars(
            select(Activity)
            .where(Activity.lead_id == lead_id, Activity.kind == ASSIGNED)
            .order_by(Activity.id)
        )
    ]
    # The claim is on record, and the reassignment says it took the lead from the counselor.
    assert steps == [(None, ids["counselor"]), (ids["counselor"], ids["other"])]
    assert db.get(Lead, lead_id).owner_id == ids["other"]


def test_a_counselor_cannot_lock_a_colleagues_lead(db, make_lead, make_staff):
    from leadform.core.errors import Forbidden

    mine, theirs = make_staff("counselor"), make_staff("counselor")
    lead = make_lead(owner=theirs)
    with pytest.raises(Forbidden):
        actions.lock_lead(db, lead.id, Actor(user=mine), actions.can_work_lead)
