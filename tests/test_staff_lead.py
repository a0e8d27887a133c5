"""The lead page: what staff see, what they may do, and that every view and change is recorded."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import unquote, urlsplit

import pytest
from factories import set_config, valid_form
from flask import g
from sqlalchemy import func, select, update

from leadform.core.audit import Actor
from leadform.core.errors import ActionError
from leadform.core.leads import actions as leads
from leadform.db import utcnow
from leadform.models import Activity, AuditEvent, Lead, Submission

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
# Follow-up dates must lie in the future: use a year well ahead of today.
Y = dt.date.today().year + 2


def spring_forward(year: int) -> str:
    """The US daylight-saving start (second Sunday in March) as YYYY-MM-DD."""
    first = dt.date(year, 3, 1)
    return (first + dt.timedelta(days=(6 - first.weekday()) % 7 + 7)).isoformat()


OTHER_PROGRAM = "bs-health-information-management"


def page(client, lead) -> str:
    response = client.get(f"/staff/leads/{lead.id}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def text_of(body: str) -> str:
    """The page as visible text: tags dropped, entities decoded, whitespace collapsed."""
    no_tags = re.sub(r"<[^>]+>", " ", body)
    return " ".join(html.unescape(no_tags).split())


def fresh(db, lead) -> Lead:
    db.expire_all()
    return db.get(Lead, lead.id)


def timeline(db, lead) -> list[Activity]:
    stmt = select(Activity).where(Activity.lead_id == lead.id).order_by(Activity.id)
    return list(db.scalars(stmt))


def audit_actions(db, **where) -> list[str]:
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(AuditEvent, key) == value)
    return [event.action for event in db.scalars(stmt)]


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model))


# --- what the page shows ------------------------------------------------------------------


def test_page_shows_details_submission_and_evidence_to_a_manager(client, submit, login_as, db):
    submit(
        valid_form(sms_opt_in="y", start_term="undecided", military="veteran"),
        page="/request-info?utm_source=newsletter&utm_medium=email&utm_campaign=spring-open",
        environ_base={"HTTP_USER_AGENT": "Mozilla/5.0 (Test Phone)"},
    )
    lead = db.scalars(select(Lead)).one()
    login_as("manager")

    body = page(client, lead)
    text = text_of(body)
    assert "Maria O'Neil-Gómez" in text
    assert "maria@example.com" in text
    assert 'href="tel:+13175550123"' in body
    assert "(317) 555-0123" in text
    assert "46204" in text
    assert "United States (US)" in text
    assert "Given · text v1" in text
    assert "Opted in" in text
    assert "Medical Billing and Coding" in text
    assert "New" in text
    assert "Unassigned" in text
    assert "Not contacted yet" in text
    # The submission and its evidence.
    assert "http://localhost/request-info?utm_source=newsletter" in text
    assert "source: newsletter" in text
    assert "medium: email" in text
    assert "campaign: spring-open" in text
    assert "Can I study part time?" in text
    assert "Not sure yet" in text
    assert "Veteran" in text
    assert "High school diploma or GED" in text
    assert "<summary>Show the consent text (v1)</summary>" in body
    assert "Consent is not a condition of enrollment." in text
    # Managers see where it came from.
    assert "Mozilla/5.0 (Test Phone)" in text
    assert "127.0.0.1" in text


def test_counselor_does_not_see_ip_or_user_agent(client, make_lead, make_staff, login_as):
    counselor = make_staff("counselor")
    lead = make_lead(owner=counselor)
    login_as(user=counselor)

    text = text_of(page(client, lead))
    assert "Requests and evidence" in text
    assert "203.0.113.7" not in text
    assert "pytest" not in text
    assert "User agent" not in text


def test_every_view_is_audited(client, make_lead, login_as, db):
    lead = make_lead()
    user = login_as("counselor")
    page(client, lead)
    page(client, lead)
    viewed = db.scalars(select(AuditEvent).where(AuditEvent.action == "lead.viewed")).all()
    assert len(viewed) == 2
    assert {(e.actor_id, e.target_type, e.target_id) for e in viewed} == {
        (user.id, "lead", str(lead.id))
    }


def test_speed_to_lead_and_overdue_follow_up_are_shown(client, make_lead, make_staff, login_as, db):
    counselor = make_staff("counselor")
    waiting = make_lead(email="waiting@example.com", owner=counselor)
    waiting.created_at = waiting.last_submitted_at = utcnow() - dt.timedelta(minutes=47)
    waiting.next_follow_up_at = utcnow() - dt.timedelta(hours=2)
    called = make_lead(email="called@example.com", owner=counselor)
    called.first_contacted_at = called.created_at + dt.timedelta(minutes=6)
    db.commit()
    login_as(user=counselor)

    body = page(client, waiting)
    assert "lead-chip-late" in body
    assert "Not contacted yet · waiting 47 min" in text_of(body)
    assert "Overdue" in text_of(body)
    assert "6 min to first contact" in text_of(page(client, called))


def test_other_leads_and_possible_duplicates_are_listed(
    client, make_lead, make_staff, login_as, db
):
    counselor = make_staff("counselor")
    lead = make_lead(email="sam@example.com", phone="+13175550199", owner=counselor)
    other_program = make_lead(email="sam@example.com", program=OTHER_PROGRAM, owner=counselor)
    twin = make_lead(email="sammy.work@example.com", first_name="Samuel", phone="+13175550199")
    stranger = make_lead(email="else@example.com", first_name="Eve", phone="+13175550100")
    login_as(user=counselor)

    body = page(client, lead)
    other_section = body.split('id="other-leads"')[1].split("</ul>")[0]
    assert f'href="/staff/leads/{other_program.id}"' in other_section
    assert "Health Information Management" in other_section
    duplicates = body.split('id="duplicates"')[1].split("</ul>")[0]
    assert f'href="/staff/leads/{twin.id}"' in duplicates  # unassigned: the counselor may look
    assert "Samuel Jones" in duplicates
    assert "sammy.work@example.com" in duplicates
    assert f"/staff/leads/{stranger.id}" not in body
    assert "Eve" not in body


def test_leads_the_counselor_may_not_open_are_counted_not_shown(
    client, make_lead, make_staff, login_as
):
    counselor, colleague = make_staff("counselor"), make_staff("counselor")
    lead = make_lead(email="a@example.com", phone="+13175550199", owner=counselor)
    theirs = make_lead(
        email="b.private@example.com",
        first_name="Bianca",
        phone="+13175550199",
        owner=colleague,
    )
    also = make_lead(
        email="c.private@example.com",
        first_name="Carmen",
        phone="+13175550199",
        owner=colleague,
    )
    other_program = make_lead(email="a@example.com", program=OTHER_PROGRAM, owner=colleague)
    login_as(user=counselor)

    body = page(client, lead)
    text = text_of(body)
    for private in ("b.private@example.com", "Bianca", "c.private@example.com", "Carmen"):
        assert private not in body
    for hidden in (theirs, also, other_program):
        assert f"/staff/leads/{hidden.id}" not in body
    assert "Health Information Management" not in body
    assert 'id="duplicates"' not in body
    assert "2 other people with this phone number are assigned to other counselors" in text
    assert "1 other lead of this person is assigned to other counselors" in text


def test_managers_see_every_related_lead(client, make_lead, make_staff, login_as):
    counselor, colleague = make_staff("counselor"), make_staff("counselor")
    lead = make_lead(email="a@example.com", phone="+13175550199", owner=counselor)
    theirs = make_lead(email="b@example.com", phone="+13175550199", owner=colleague)
    other_program = make_lead(email="a@example.com", program=OTHER_PROGRAM, owner=colleague)
    login_as("manager")

    body = page(client, lead)
    duplicates = body.split('id="duplicates"')[1].split("</ul>")[0]
    assert "b@example.com" in duplicates
    assert f'href="/staff/leads/{theirs.id}"' in duplicates
    assert f'href="/staff/leads/{other_program.id}"' in body
    assert "assigned to other counselors" not in text_of(body)


def test_missing_lead_is_404(client, login_as):
    login_as("manager")
    assert client.get("/staff/leads/999999").status_code == 404


@pytest.mark.parametrize("lead_id", ["99999999999999999999", "2147483648", "²", "-1"])
def test_impossible_lead_ids_are_404_not_500(client, login_as, lead_id):
    login_as("manager")
    assert client.get(f"/staff/leads/{lead_id}").status_code == 404
    assert client.post(f"/staff/leads/{lead_id}/notes", data={"body": "x"}).status_code == 404


@pytest.mark.parametrize("owner", ["²", "99999999999999999999"])
def test_assigning_to_an_impossible_owner_id_is_refused(client, make_lead, login_as, db, owner):
    lead = make_lead()
    login_as("manager")
    response = post(client, lead, "assign", owner=owner)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    error = body.split('id="assign-owner-error"')[1].split("</div>")[0]
    assert "Choose a staff member from the list." in error
    assert fresh(db, lead).owner_id is None


# --- actions ------------------------------------------------------------------------------


@pytest.fixture
def own_lead(make_lead, make_staff, login_as):
    """A new lead owned by the signed-in counselor."""
    counselor = make_staff("counselor", name="Casey Counselor")
    login_as(user=counselor)
    return make_lead(owner=counselor)


def post(client, lead, action, **data):
    return client.post(f"/staff/leads/{lead.id}/{action}", data=data)


def assert_saved(response, client, lead, flash_text):
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/staff/leads/{lead.id}")
    after = text_of(client.get(response.headers["Location"]).get_data(as_text=True))
    assert flash_text in after
    return after


def test_change_status_lands_in_timeline_and_audit_log(client, own_lead, db):
    response = post(client, own_lead, "status", status="qualified")
    text = assert_saved(response, client, own_lead, "Status changed to Qualified.")
    assert "Status changed from New to Qualified." in text
    assert "Casey Counselor" in text
    assert fresh(db, own_lead).status == "qualified"
    assert "lead.status_changed" in audit_actions(db, target_id=str(own_lead.id))


def test_first_move_out_of_new_starts_the_speed_to_lead_clock(client, own_lead, db):
    post(client, own_lead, "status", status="invalid")
    first = fresh(db, own_lead).first_contacted_at
    assert first is not None
    post(client, own_lead, "status", status="new")
    post(client, own_lead, "status", status="attempted")
    assert fresh(db, own_lead).first_contacted_at == first


def test_note_lands_in_timeline_and_audit_log(client, own_lead, db):
    response = post(client, own_lead, "notes", body="Prefers evenings.\nAsk about FAFSA.")
    text = assert_saved(response, client, own_lead, "Note added.")
    assert "Prefers evenings. Ask about FAFSA." in text
    notes = [a for a in timeline(db, own_lead) if a.kind == "note"]
    assert [n.body for n in notes] == ["Prefers evenings.\nAsk about FAFSA."]
    assert "lead.note" in audit_actions(db, target_id=str(own_lead.id))


def test_first_contact_attempt_sets_first_contacted_at_only_once(client, own_lead, db):
    assert own_lead.first_contacted_at is None
    response = post(client, own_lead, "contacts", channel="call", outcome="no_answer", note="")
    text = assert_saved(response, client, own_lead, "Contact attempt logged (call).")
    assert "Call: No answer." in text
    lead = fresh(db, own_lead)
    first = lead.first_contacted_at
    assert first is not None
    assert lead.status == "attempted"

    post(client, own_lead, "contacts", channel="email", outcome="reached", note="Replied!")
    lead = fresh(db, own_lead)
    assert lead.first_contacted_at == first
    assert lead.status == "contacted"
    kinds = [a.kind for a in timeline(db, own_lead)]
    assert kinds.count("contact_attempt") == 2
    assert audit_actions(db, target_id=str(own_lead.id)).count("lead.contact_attempt") == 2


def test_contact_attempt_on_a_worked_lead_keeps_its_status(client, own_lead, db):
    post(client, own_lead, "status", status="qualified")
    post(client, own_lead, "contacts", channel="sms", outcome="sent", note="")
    assert fresh(db, own_lead).status == "qualified"


def test_follow_up_round_trip_in_the_staff_time_zone(client, own_lead, db):
    response = post(client, own_lead, "follow-up", date=f"{Y}-07-01", time="14:30")
    text = assert_saved(response, client, own_lead, f"Follow-up set for Jul 1, {Y} 2:30 PM EDT.")
    # Stored in UTC: Indianapolis is UTC-4 in July.
    assert fresh(db, own_lead).next_follow_up_at == dt.datetime(Y, 7, 1, 18, 30, tzinfo=dt.UTC)
    assert f"Next follow-up Jul 1, {Y} 2:30 PM EDT" in text
    assert f"Follow-up set for Jul 1, {Y} 2:30 PM EDT." in text
    body = page(client, own_lead)
    assert f'value="{Y}-07-01"' in body
    assert 'value="14:30"' in body

    post(client, own_lead, "follow-up", date=f"{Y + 1}-01-15", time="")  # empty time: 9 AM
    assert fresh(db, own_lead).next_follow_up_at == dt.datetime(Y + 1, 1, 15, 14, 0, tzinfo=dt.UTC)

    response = post(
        client, own_lead, "follow-up", date=f"{Y + 1}-01-15", time="09:00", clear="Clear"
    )
    assert_saved(response, client, own_lead, "Follow-up cleared.")
    assert fresh(db, own_lead).next_follow_up_at is None
    assert audit_actions(db, target_id=str(own_lead.id)).count("lead.follow_up") == 3


def test_follow_up_uses_the_configured_time_zone(app, client, make_lead, make_staff, login_as, db):
    set_config(app, STAFF_TIMEZONE="Europe/Berlin")
    counselor = make_staff("counselor")
    lead = make_lead(owner=counselor)
    login_as(user=counselor)

    response = post(client, lead, "follow-up", date=f"{Y}-07-01", time="14:30")
    assert_saved(response, client, lead, f"Follow-up set for Jul 1, {Y} 2:30 PM CEST.")
    assert fresh(db, lead).next_follow_up_at == dt.datetime(Y, 7, 1, 12, 30, tzinfo=dt.UTC)


def test_claim_an_unassigned_lead(client, make_lead, login_as, db):
    lead = make_lead()
    counselor = login_as("counselor")
    text = text_of(page(client, lead))
    assert "Claim this lead" in text
    assert "Log contact" not in text  # not theirs yet: nothing to work with

    response = post(client, lead, "claim")
    text = assert_saved(response, client, lead, "The lead is yours.")
    assert f"Claimed by {counselor.name}." in text
    assert "Log contact" in text
    assert fresh(db, lead).owner_id == counselor.id
    assert "lead.assigned" in audit_actions(db, target_id=str(lead.id))


def test_claim_is_only_for_unassigned_leads(client, make_lead, make_staff, login_as, db):
    colleague = make_staff("counselor")
    taken = make_lead(owner=colleague)
    login_as("counselor")
    assert post(client, taken, "claim").status_code == 403
    assert fresh(db, taken).owner_id == colleague.id


def test_claim_does_not_take_a_lead_claimed_meanwhile(db, make_lead, make_staff):
    first, second = make_staff("counselor"), make_staff("counselor")
    lead = make_lead()
    # Another request claims it after `lead` was loaded: the object here still says unassigned.
    db.execute(
        update(Lead)
        .where(Lead.id == lead.id)
        .values(owner_id=first.id)
        .execution_options(synchronize_session=False)
    )
    assert lead.owner_id is None
    with pytest.raises(ActionError):
        leads.claim(db, lead, Actor(user=second), utcnow())
    assert fresh(db, lead).owner_id == first.id


def test_manager_claim_of_an_owned_lead_is_refused_next_to_the_button(
    client, make_lead, make_staff, login_as, db
):
    colleague = make_staff("counselor")
    taken = make_lead(owner=colleague)
    login_as("manager")
    response = post(client, taken, "claim")
    assert response.status_code == 422
    assert "Someone else has this lead already." in response.get_data(as_text=True)
    assert fresh(db, taken).owner_id == colleague.id


def test_manager_assigns_and_unassigns(client, make_lead, make_staff, login_as, db):
    counselor = make_staff("counselor", name="Robin Reyes")
    away = make_staff("counselor", name="Alex Away", away=True)
    make_staff("counselor", name="Gone Person", active=False)
    lead = make_lead()
    login_as("manager")

    body = page(client, lead)
    options = body.split('id="assign-owner"')[1].split("</select>")[0]
    assert "Robin Reyes (counselor)" in options
    assert "Alex Away (counselor, away)" in options
    assert "Gone Person" not in options

    response = post(client, lead, "assign", owner=str(counselor.id))
    text = assert_saved(response, client, lead, "Assigned to Robin Reyes.")
    assert "Assigned to Robin Reyes." in text
    assert fresh(db, lead).owner_id == counselor.id

    post(client, lead, "assign", owner=str(away.id))
    assert fresh(db, lead).owner_id == away.id
    response = post(client, lead, "assign", owner="")
    assert_saved(response, client, lead, "Moved to the unassigned queue.")
    assert fresh(db, lead).owner_id is None
    assert audit_actions(db, target_id=str(lead.id)).count("lead.assigned") == 3


def test_assign_to_an_inactive_or_unknown_user_is_refused(
    client, make_lead, make_staff, login_as, db
):
    gone = make_staff("counselor", active=False)
    lead = make_lead()
    login_as("manager")
    for owner in (str(gone.id), "999999", "abc"):
        response = post(client, lead, "assign", owner=owner)
        assert response.status_code == 422
        body = response.get_data(as_text=True)
        assert 'id="assign-owner-error"' in body
    assert fresh(db, lead).owner_id is None


def test_assign_is_for_managers_only(client, own_lead, make_staff, db):
    other = make_staff("counselor")
    response = post(client, own_lead, "assign", owner=str(other.id))
    assert response.status_code == 403
    assert fresh(db, own_lead).owner_id != other.id
    assert "access.denied" in audit_actions(db)


def test_counselor_page_has_no_assign_control(client, own_lead):
    body = page(client, own_lead)
    assert "assign-owner" not in body
    assert "Change status" in body


# --- object-level checks ------------------------------------------------------------------

ACTIONS = [
    ("status", {"status": "qualified"}),
    ("claim", {}),
    ("notes", {"body": "hello"}),
    ("contacts", {"channel": "call", "outcome": "reached", "note": ""}),
    ("follow-up", {"date": f"{Y}-07-01", "time": "10:00"}),
]


def test_counselor_cannot_view_a_colleagues_lead(client, make_lead, make_staff, login_as, db):
    colleague = make_staff("counselor")
    lead = make_lead(owner=colleague)
    user = login_as("counselor")
    response = client.get(f"/staff/leads/{lead.id}")
    assert response.status_code == 403
    assert "Pat Jones" not in response.get_data(as_text=True)
    denied = db.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).one()
    assert denied.actor_id == user.id
    assert denied.data["lead_id"] == lead.id
    assert "lead.viewed" not in audit_actions(db)


@pytest.mark.parametrize(("action", "data"), ACTIONS)
def test_counselor_cannot_change_a_colleagues_lead(
    client, make_lead, make_staff, login_as, db, action, data
):
    colleague = make_staff("counselor")
    lead = make_lead(owner=colleague)
    login_as("counselor")
    activities = count(db, Activity)

    response = post(client, lead, action, **data)
    assert response.status_code == 403
    after = fresh(db, lead)
    assert (after.status, after.owner_id, after.next_follow_up_at) == ("new", colleague.id, None)
    assert count(db, Activity) == activities
    assert audit_actions(db)[-1] == "access.denied"


@pytest.mark.parametrize(("action", "data"), [a for a in ACTIONS if a[0] != "claim"])
def test_counselor_cannot_work_an_unassigned_lead_before_claiming(
    client, make_lead, login_as, db, action, data
):
    lead = make_lead()
    login_as("counselor")
    assert client.get(f"/staff/leads/{lead.id}").status_code == 200
    assert post(client, lead, action, **data).status_code == 403
    assert fresh(db, lead).status == "new"


@pytest.mark.parametrize(("action", "data"), [a for a in ACTIONS if a[0] != "claim"])
def test_manager_can_work_any_lead(client, make_lead, make_staff, login_as, action, data):
    lead = make_lead(owner=make_staff("counselor"))
    login_as("manager")
    assert post(client, lead, action, **data).status_code == 303


def test_anonymous_is_sent_to_sign_in(client, make_lead, db):
    lead = make_lead()
    response = client.get(f"/staff/leads/{lead.id}")
    assert response.status_code == 302
    assert "/staff/login" in response.headers["Location"]
    assert post(client, lead, "notes", body="x").status_code == 302
    assert count(db, Activity) == 1  # only the submission


# --- invalid input ------------------------------------------------------------------------

INVALID = [
    ("status", {"status": "promoted"}, "status", "Choose a status from the list."),
    ("status", {"status": ""}, "status", "Choose a status."),
    ("notes", {"body": "   "}, "note-body", "Write a note first."),
    ("notes", {"body": "x" * 5001}, "note-body", "Keep notes to 5,000 characters."),
    ("notes", {"body": "null\x00byte"}, "note-body", "Remove the special or invisible"),
    ("contacts", {"channel": "call", "outcome": ""}, "contact-outcome", "Choose the outcome."),
    ("contacts", {"channel": "fax", "outcome": "reached"}, "contact-channel", "Choose how"),
    ("contacts", {"channel": "call", "outcome": "sent"}, "contact-outcome", "For a call"),
    ("follow-up", {"date": "", "time": "10:00"}, "follow-up-date", "Choose a date."),
    ("follow-up", {"date": "tomorrow", "time": ""}, "follow-up-date", "Enter a date like"),
    ("follow-up", {"date": f"{Y}-02-30", "time": ""}, "follow-up-date", "That date doesn"),
    ("follow-up", {"date": f"{Y}-07-01", "time": "25:00"}, "follow-up-time", "Enter a time"),
    ("follow-up", {"date": "2020-07-01", "time": "10:00"}, "follow-up-date", "in the future"),
    # Typos in the year: refused by the form (9999-12-31 used to overflow into a 500).
    ("follow-up", {"date": "9999-12-31", "time": "23:59"}, "follow-up-date", "between 2000"),
    ("follow-up", {"date": "0001-01-01", "time": "00:00"}, "follow-up-date", "between 2000"),
    ("follow-up", {"date": "2101-01-01", "time": ""}, "follow-up-date", "between 2000"),
    # 2:30 AM on the spring-forward day does not exist in Indianapolis.
    (
        "follow-up",
        {"date": spring_forward(Y), "time": "02:30"},
        "follow-up-time",
        "daylight-saving",
    ),
]


@pytest.mark.parametrize(("action", "data", "field_id", "message"), INVALID)
def test_invalid_input_is_shown_next_to_the_field_and_changes_nothing(
    client, own_lead, db, action, data, field_id, message
):
    activities = count(db, Activity)
    changes_before = [a for a in audit_actions(db) if a != "lead.viewed"]

    response = post(client, own_lead, action, **data)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    error = body.split(f'id="{field_id}-error"')[1].split("</div>")[0]
    assert message in html.unescape(error)
    assert f'aria-describedby="{field_id}-error"' in body
    lead = fresh(db, own_lead)
    assert (lead.status, lead.next_follow_up_at, lead.first_contacted_at) == ("new", None, None)
    assert count(db, Activity) == activities
    assert [a for a in audit_actions(db) if a != "lead.viewed"] == changes_before


def test_a_failed_action_keeps_what_was_typed(client, own_lead):
    response = post(client, own_lead, "contacts", channel="sms", outcome="", note="Texted twice")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Texted twice</textarea>" in body
    assert '<option selected value="sms">' in body


# --- hostile content ----------------------------------------------------------------------


def test_stored_markup_renders_as_text(client, make_lead, make_staff, login_as, db):
    counselor = make_staff("counselor")
    lead = make_lead(first_name=HOSTILE, last_name='"><svg onload=alert(3)>', comments=HOSTILE)
    lead.owner_id = counselor.id
    # Arrange hostile evidence as if it had arrived that way (submissions are immutable in the ORM).
    db.execute(
        update(Submission)
        .where(Submission.lead_id == lead.id)
        .values(page_url="javascript:alert(4)", referrer="https://example.com/?q=<b>x</b>")
    )
    db.commit()
    login_as(user=counselor)
    post(client, lead, "notes", body=HOSTILE)

    body = page(client, lead)
    assert "<script>alert(1)" not in body
    assert "<img src=x" not in body
    assert "<svg" not in body
    assert 'href="javascript:' not in body
    assert "<b>x</b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in body
    assert "javascript:alert(4)" in text_of(body)  # shown as text, not a link


def test_csrf_is_enforced_on_lead_actions(app, make_lead, make_staff, client, db):
    set_config(app, WTF_CSRF_ENABLED=True)
    counselor = make_staff("counselor")
    lead = make_lead(owner=counselor)
    login_page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    client.post(
        "/staff/login",
        data={"email": counselor.email, "password": "correct horse battery", "csrf_token": token},
    )

    forged = post(client, lead, "notes", body="forged")
    assert forged.status_code in (303, 400)
    assert not [a for a in timeline(db, lead) if a.kind == "note"]

    # The `db` fixture keeps one app context open, so requests share `g`; drop the token
    # Flask-WTF cached there for the pre-login session.
    g.pop("csrf_token", None)
    body = page(client, lead)
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    saved = post(client, lead, "notes", body="real", csrf_token=token)
    assert saved.status_code == 303
    assert [a.body for a in timeline(db, lead) if a.kind == "note"] == ["real"]


# --- a lead reopened by a new request -------------------------------------------------------


def test_a_reopened_lead_restarts_the_speed_to_lead_clock(
    client, make_lead, make_staff, login_as, db
):
    counselor = make_staff("counselor")
    lead = make_lead(email="back@example.com", owner=counselor)
    long_ago = utcnow() - dt.timedelta(days=90)
    db.execute(
        update(Lead)
        .where(Lead.id == lead.id)
        .values(
            status="not_interested",
            first_contacted_at=long_ago + dt.timedelta(minutes=5),
            created_at=long_ago,
            last_submitted_at=long_ago,
        )
    )
    db.commit()

    make_lead(email="back@example.com", owner=counselor)  # asks again today
    reopened = fresh(db, lead)
    assert (reopened.status, reopened.first_contacted_at) == ("new", None)

    login_as(user=counselor)
    text = text_of(page(client, lead))
    assert "Not contacted yet · waiting 0 min" in text
    assert "Reopened by a new request" in text  # the history stays on the timeline


# --- mailto: and tel: links -----------------------------------------------------------------

#: A valid address whose local part reads like a mailto query: left as is, the link adds a Bcc.
BCC_TRAP = "x?bcc=att%40evil.example&subject=hi@example.com"


def test_the_mailto_link_writes_to_the_stored_address_only(client, make_lead, login_as):
    counselor = login_as("counselor")
    lead = make_lead(email=BCC_TRAP, phone="(317) 555-0123", owner=counselor)
    assert lead.prospect.email == BCC_TRAP  # the validator takes it: the link must cope

    body = page(client, lead)
    href = html.unescape(re.search(r'<a href="(mailto:[^"]*)"', body).group(1))
    parts = urlsplit(href)
    # What a mail client reads: a recipient and no headers (no ?bcc=, no &subject=).
    assert parts.query == ""
    assert "?" not in href
    assert "&" not in href
    assert unquote(parts.path) == BCC_TRAP
    assert f">{html.escape(BCC_TRAP)}</a>" in body  # the address shown as typed

    tel = html.unescape(re.search(r'<a href="(tel:[^"]*)"', body).group(1))
    assert tel == "tel:+13175550123"
