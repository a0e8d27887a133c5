"""Routing at intake: weighted round robin per program, away and inactive skipped, sticky people."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from factories import PROGRAM, create_lead
from sqlalchemy import select

from leadform.context import get_sessionmaker, settings
from leadform.core import routing
from leadform.core.audit import Actor
from leadform.core.intake.store import get_program
from leadform.models import AuditEvent, Lead, StaffUser

OTHER = "master-health-informatics"


@pytest.fixture
def team(db, make_staff):
    """set_team(program_slug, (user, weight), ...) -> the users."""

    def make(slug: str, *members: tuple[StaffUser, int]) -> list[StaffUser]:
        routing.set_team(db, get_program(db, slug), list(members), Actor())
        db.commit()
        return [user for user, _ in members]

    return make


def owners(db, emails: list[str]) -> list[int | None]:
    leads = {lead.prospect.email: lead.owner_id for lead in db.scalars(select(Lead))}
    return [leads[e] for e in emails]


def test_weights_share_leads_two_to_one_without_long_runs(app, db, make_staff, team):
    dana, marc, sofia = (make_staff("counselor") for _ in range(3))
    team(PROGRAM, (dana, 2), (marc, 1), (sofia, 1))
    emails = [f"p{n}@example.com" for n in range(100)]
    for email in emails:
        create_lead(db, settings(), email)
    got = owners(db, emails)
    assert Counter(got) == {dana.id: 50, marc.id: 25, sofia.id: 25}
    # Smooth: the weight-2 counselor never gets three in a row, the others never two.
    for a, b, c in zip(got, got[1:], got[2:], strict=False):
        assert not a == b == c
    for a, b in zip(got, got[1:], strict=False):
        assert not (a == b and a != dana.id)


def test_away_and_inactive_members_are_skipped_and_nobody_leaves_it_unassigned(
    db, make_staff, team
):
    here, away, gone = (make_staff("counselor") for _ in range(3))
    team(PROGRAM, (here, 1), (away, 1), (gone, 1))
    away.away = True
    gone.active = False
    db.commit()
    for n in range(4):
        create_lead(db, settings(), f"a{n}@example.com")
    assert set(owners(db, [f"a{n}@example.com" for n in range(4)])) == {here.id}
    here.away = True
    db.commit()
    assert create_lead(db, settings(), "nobody@example.com").owner_id is None


def test_a_returning_person_stays_with_their_counselor_and_takes_no_turn(db, make_staff, team):
    dana, marc = make_staff("counselor"), make_staff("counselor")
    team(PROGRAM, (dana, 1), (marc, 1))
    team(OTHER, (dana, 1), (marc, 1))
    first = create_lead(db, settings(), "pat@example.com")  # dana: first turn
    assert first.owner_id == dana.id
    # Pat asks about another program: Dana already works with Pat and is on that team.
    second = create_lead(db, settings(), "pat@example.com", program=OTHER)
    assert second.owner_id == dana.id
    # That took no turn on OTHER: the next new person there still starts with Dana.
    assert create_lead(db, settings(), "new@example.com", program=OTHER).owner_id == dana.id


def test_asking_again_takes_no_turn(db, make_staff, team):
    dana, marc = make_staff("counselor"), make_staff("counselor")
    team(PROGRAM, (dana, 1), (marc, 1))
    create_lead(db, settings(), "pat@example.com")
    create_lead(db, settings(), "pat@example.com")  # the same lead, again
    assert create_lead(db, settings(), "sam@example.com").owner_id == marc.id


def test_concurrent_submissions_take_turns_in_order(app, db, make_staff, team):
    dana, marc = make_staff("counselor"), make_staff("counselor")
    team(PROGRAM, (dana, 2), (marc, 1))
    factory = get_sessionmaker()
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def submit_many(worker: int) -> None:
        try:
            barrier.wait()
            with app.app_context():
                config = settings()
                for n in range(4):
                    with factory() as session:
                        create_lead(session, config, f"w{worker}n{n}@example.com")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit_many, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    db.expire_all()
    counts = Counter(lead.owner_id for lead in db.scalars(select(Lead)))
    # 24 turns at 2:1, taken one after another: exactly 16 and 8, none skipped or doubled.
    assert counts == {dana.id: 16, marc.id: 8}


def test_cli_sets_and_shows_a_team_and_marks_people_away(app, db, make_staff):
    dana = make_staff("counselor", email="dana@staff.example.com")
    marc = make_staff("counselor", email="marc@staff.example.com")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["routing", "set", PROGRAM, "dana@staff.example.com:2", "marc@staff.example.com"]
    )
    assert result.exit_code == 0, result.output
    shown = runner.invoke(args=["routing", "show", PROGRAM]).output
    assert f"{PROGRAM}: dana@staff.example.com weight 2" in shown
    assert f"{PROGRAM}: marc@staff.example.com weight 1" in shown

    assert runner.invoke(args=["users", "away", "marc@staff.example.com", "--on"]).exit_code == 0
    db.expire_all()
    assert db.get(StaffUser, marc.id).away
    assert "(away)" in runner.invoke(args=["routing", "show", PROGRAM]).output
    assert create_lead(db, settings(), "x@example.com").owner_id == dana.id

    bad = runner.invoke(args=["routing", "set", PROGRAM, "dana@staff.example.com:0"])
    assert bad.exit_code != 0
    assert "weight" in bad.output
    unknown = runner.invoke(args=["routing", "set", PROGRAM, "nobody@staff.example.com"])
    assert unknown.exit_code != 0
    actions = {e.action for e in db.scalars(select(AuditEvent))}
    assert {"routing.team_set", "user.away"} <= actions


def test_a_counselor_marks_themselves_away_from_the_header(client, db, login_as, team):
    me = login_as("counselor")
    other = StaffUser(email="o@staff.example.com", name="O", role="counselor", password_hash="x")
    db.add(other)
    db.commit()
    team(PROGRAM, (me, 1), (other, 1))
    page = client.get("/staff/").get_data(as_text=True)
    assert "Mark me away" in page
    response = client.post("/staff/away", data={"away": "on"}, headers={"Referer": "/staff/"})
    assert response.status_code == 303
    assert "new leads go to your teammates" in client.get("/staff/").get_data(as_text=True)
    db.expire_all()
    assert db.get(StaffUser, me.id).away
    assert {create_lead(db, settings(), f"q{n}@example.com").owner_id for n in range(3)} == {
        other.id
    }
    client.post("/staff/away", data={"away": "off"})
    db.expire_all()
    assert not db.get(StaffUser, me.id).away
