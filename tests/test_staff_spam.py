"""The spam review page: managers see what the quarantine held and release or dismiss it."""

from __future__ import annotations

import datetime as dt
import html
import re
from zoneinfo import ZoneInfo

from factories import count, valid_form
from sqlalchemy import select, update

from leadform.core.audit import Actor
from leadform.core.intake import store as service
from leadform.core.leads import actions as leads
from leadform.db import utcnow
from leadform.models import (
    Activity,
    AuditEvent,
    Lead,
    OutboxMessage,
    Program,
    Prospect,
    SpamReview,
    Submission,
)

STAFF_TZ = ZoneInfo("America/Indiana/Indianapolis")  # the default STAFF_TIMEZONE
#: A person's request that tripped the honeypot (autofill can fill a hidden field).
PERSON = {"first_name": "Aisha", "last_name": "Okafor", "email": "aisha@example.com"}


def hold(submit, db, **overrides):
    """Send a request that the quarantine keeps (the honeypot filled in); return it."""
    response = submit(valid_form(website="https://autofill.example", **{**PERSON, **overrides}))
    assert response.status_code == 303
    held = db.scalars(select(Submission).order_by(Submission.id.desc())).first()
    assert held.spam_verdict == "quarantined"
    return held


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def review_time(db) -> dt.datetime:
    """When the (only) decision was made."""
    return db.scalars(select(SpamReview.reviewed_at)).one()


def backdate(db, submission, when: dt.datetime) -> None:
    """Move a held request back in time (evidence is immutable in the ORM, not in SQL)."""
    db.execute(update(Submission).where(Submission.id == submission.id).values(received_at=when))
    db.commit()


def test_managers_see_what_was_held_and_why(submit, client, db, login_as):
    held = hold(submit, db, comments="Is there an evening cohort?")
    login_as("manager")
    page = text(client.get("/staff/spam"))
    assert "Aisha Okafor" in page
    assert "aisha@example.com" in page
    assert "Medical Billing and Coding Certificate" in page
    assert "Filled in the hidden bot-trap field" in page
    assert "Is there an evening cohort?" in page
    assert f"/staff/spam/{held.id}/release" in page
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "spam.viewed")).one()


def test_release_turns_the_request_into_a_lead_as_if_just_sent(submit, client, db, login_as):
    held = hold(submit, db)
    manager = login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/release")
    assert response.status_code == 303
    page = text(client.get(response.headers["Location"]))
    assert f"Request #{held.id} released. The request is now a new lead in the queue." in page

    db.expire_all()
    lead = db.scalars(select(Lead)).one()
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.first_name, prospect.email) == ("Aisha", "aisha@example.com")
    copy = db.scalars(select(Submission).where(Submission.spam_verdict == "ok")).one()
    assert copy.idempotency_key == f"release:{held.id}"
    assert copy.lead_id == lead.id
    assert copy.received_at == held.received_at  # the evidence keeps when it was sent
    # The lead became workable when it was released: its clock runs from then.
    assert lead.last_submitted_at == review_time(db)
    # The evidence stays as it arrived.
    again = db.get(Submission, held.id)
    assert (again.spam_verdict, again.lead_id) == ("quarantined", None)
    kinds = {a.kind: a for a in db.scalars(select(Activity).where(Activity.lead_id == lead.id))}
    assert set(kinds) == {"submitted", "released"}
    assert kinds["released"].actor_id == manager.id
    # The owner or team hears of it, and the person gets a confirmation, as for any request.
    assert sorted(m.kind for m in db.scalars(select(OutboxMessage))) == [
        "lead.created",
        "prospect.confirmation",
    ]
    review = db.scalars(select(SpamReview)).one()
    assert (review.decision, review.reviewer_id, review.released_submission_id) == (
        "released",
        manager.id,
        copy.id,
    )
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "spam.released")).one()

    assert "Aisha Okafor" not in text(client.get("/staff/spam"))
    reviewed = text(client.get("/staff/spam?view=reviewed"))
    assert "Released" in reviewed
    assert f"/staff/leads/{lead.id}" in reviewed
    assert "Released from the spam quarantine" in text(client.get(f"/staff/leads/{lead.id}"))


def test_a_returning_person_released_joins_their_lead(submit, client, db, login_as, make_lead):
    lead = make_lead(email="aisha@example.com", first_name="Aisha", last_name="Okafor")
    held = hold(submit, db)
    login_as("manager")
    client.post(f"/staff/spam/{held.id}/release")
    db.expire_all()
    assert count(db, Lead) == 1
    assert db.get(Lead, lead.id).submission_count == 2


def test_a_request_twice_decided_is_refused_the_second_time(submit, client, db, login_as):
    held = hold(submit, db)
    login_as("manager")
    client.post(f"/staff/spam/{held.id}/release")
    for action in ("release", "dismiss"):
        response = client.post(f"/staff/spam/{held.id}/{action}")
        assert "already decided" in text(client.get(response.headers["Location"]))
    assert count(db, Lead) == 1
    assert count(db, SpamReview) == 1


def test_a_request_that_breaks_the_form_rules_cannot_be_released(submit, client, db, login_as):
    held = hold(submit, db, first_name="Visit http://spam.example")
    login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/release")
    page = text(client.get(response.headers["Location"]))
    assert f"Request #{held.id} not released. First name:" in page
    assert count(db, Lead) == 0
    assert count(db, SpamReview) == 0
    assert f"/staff/spam/{held.id}/dismiss" in page  # still there to dismiss


def test_dismissed_requests_leave_the_list_and_make_no_lead(submit, client, db, login_as):
    held = hold(submit, db)
    login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/dismiss")
    assert "Dismissed as spam." in text(client.get(response.headers["Location"]))
    assert "Aisha Okafor" not in text(client.get("/staff/spam"))
    assert "Dismissed" in text(client.get("/staff/spam?view=reviewed"))
    assert count(db, Lead) == 0
    assert db.scalars(select(SpamReview)).one().decision == "dismissed"
    assert db.scalars(select(AuditEvent).where(AuditEvent.action == "spam.dismissed")).one()


def test_only_held_requests_can_be_released(submit, client, db, login_as):
    submit(valid_form())
    accepted = db.scalars(select(Submission)).one()
    login_as("manager")
    assert client.post(f"/staff/spam/{accepted.id}/release").status_code == 404
    assert client.post("/staff/spam/999999/dismiss").status_code == 404


def test_the_spam_link_is_for_managers(client, login_as):
    login_as("counselor")
    assert "/staff/spam" not in client.get("/staff/").get_data(as_text=True)
    assert client.get("/staff/spam").status_code == 403
    client.post("/staff/logout")
    login_as("manager")
    assert "/staff/spam" in client.get("/staff/").get_data(as_text=True)


def test_held_requests_are_paged_newest_first(client, db, login_as):
    consent = service.get_active_consent(db)
    for n in range(53):
        service.quarantine_submission(
            db,
            {"first_name": f"Bot{n:02d}", "last_name": "X", "email": f"b{n}@example.com"},
            service.Evidence(),
            idempotency_key=f"test:{n}",
            reasons=["honeypot"],
            consent=consent,
            program=None,
        )
    db.commit()
    login_as("manager")
    first = text(client.get("/staff/spam"))
    assert "Bot52" in first
    assert "Bot03" in first
    assert "Bot02" not in first
    assert "53</span>" in first  # the count to review
    older = first.split('rel="next"')[0].rsplit('href="', 1)[1].split('"', 1)[0]
    second = text(client.get(older))
    assert "Bot02" in second
    assert "Bot00" in second
    assert "Bot03" not in second
    assert 'rel="next"' not in second


def test_dismiss_all_on_the_page_skips_what_was_already_decided(submit, client, db, login_as):
    person = hold(submit, db)
    bots = [hold(submit, db, email=f"bot{n}@example.com", first_name="Bot") for n in range(3)]
    login_as("manager")
    client.post(f"/staff/spam/{person.id}/release")
    ids = [str(s.id) for s in (person, *bots)] + ["junk", "99999999999"]
    response = client.post("/staff/spam/dismiss", data={"ids": ids})
    assert "Dismissed 3 as spam." in text(client.get(response.headers["Location"]))
    decisions = {r.submission_id: r.decision for r in db.scalars(select(SpamReview))}
    assert decisions == {person.id: "released", **{b.id: "dismissed" for b in bots}}
    assert "Nothing to review" in text(client.get("/staff/spam"))


def test_an_old_hold_released_later_changes_nothing_newer(submit, client, db, login_as):
    # Held in August with SMS opt-in; the person wrote again since, without it, and the lead
    # was closed. Releasing the old request must not bring back the old name or the SMS
    # opt-in, nor reopen the lead.
    held = hold(submit, db, first_name="Old", sms_opt_in="y")
    august = dt.datetime(2026, 8, 1, 15, 0, tzinfo=dt.UTC)
    # Evidence is immutable in the ORM; the test moves the held request back in time.
    db.execute(update(Submission).where(Submission.id == held.id).values(received_at=august))
    db.commit()
    submit(valid_form(**{**PERSON, "first_name": "New", "sms_opt_in": None}))
    manager = login_as("manager")
    leads.change_status(
        db, db.scalars(select(Lead)).one(), "not_interested", Actor(user=manager), utcnow()
    )
    db.commit()
    client.post(f"/staff/spam/{held.id}/release")
    db.expire_all()
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.first_name, prospect.sms_opt_in) == ("New", False)
    lead = db.scalars(select(Lead)).one()
    assert (lead.status, lead.submission_count) == ("not_interested", 2)
    # It stays closed, so its clock stays at the newer request: not moved to the release.
    newer = db.scalars(select(Submission.received_at).where(Submission.id > held.id)).first()
    assert lead.last_submitted_at == newer
    assert db.scalars(select(SpamReview)).one().decision == "released"


def test_a_program_no_longer_offered_is_not_released_into(submit, client, db, login_as):
    held = hold(submit, db)
    db.execute(update(Program).where(Program.id == held.program_id).values(active=False))
    db.commit()
    login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/release")
    assert "is no longer offered" in text(client.get(response.headers["Location"]))
    assert count(db, Lead) == 0
    refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "spam.release_refused"))
    assert refused.one().target_id == str(held.id)


def test_a_domain_as_a_name_is_not_released(submit, client, db, login_as):
    held = hold(submit, db, last_name="www.pharma-deals.top")
    login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/release")
    assert "Last name: holds a web address" in text(client.get(response.headers["Location"]))
    assert count(db, Lead) == 0


def test_consent_sent_as_no_is_not_consent(client, db, login_as, make_program):
    # Hand-made requests send "no" for an unticked box; the quarantine reads it as the form does.
    consent = service.get_active_consent(db)
    program = db.scalars(select(Program)).first()
    held = service.quarantine_submission(
        db,
        {**valid_form(**PERSON), "consent": "no", "sms_opt_in": "off"},
        service.Evidence(),
        idempotency_key="test:no",
        reasons=["honeypot"],
        consent=consent,
        program=program,
    )
    db.commit()
    assert (held.consent, held.sms_opt_in) == (False, False)
    login_as("manager")
    response = client.post(f"/staff/spam/{held.id}/release")
    assert "Consent: the person did not agree" in text(client.get(response.headers["Location"]))


def test_a_start_term_that_has_begun_is_left_out(client, db, login_as):
    program = db.scalars(select(Program).where(Program.active.is_(True))).first()
    held = service.quarantine_submission(
        db,
        {**valid_form(**PERSON), "start_term": "2020-fall"},
        service.Evidence(),
        idempotency_key="test:term",
        reasons=["too_fast"],
        consent=service.get_active_consent(db),
        program=program,
    )
    db.commit()
    login_as("manager")
    client.post(f"/staff/spam/{held.id}/release")
    copy = db.scalars(select(Submission).where(Submission.spam_verdict == "ok")).one()
    assert copy.start_term == ""
    assert count(db, Lead) == 1


def test_reviewed_lists_the_latest_decision_first(submit, client, db, login_as):
    older = hold(submit, db, email="older@example.com", first_name="Olga")
    newer = hold(submit, db, email="newer@example.com", first_name="Nina")
    login_as("manager")
    client.post(f"/staff/spam/{newer.id}/dismiss")
    client.post(f"/staff/spam/{older.id}/dismiss")
    page = text(client.get("/staff/spam?view=reviewed"))
    assert page.index("Olga") < page.index("Nina")


def test_the_count_to_review_stops_at_the_cap(submit, client, db, login_as, monkeypatch):
    from leadform.core import quarantine as spam

    monkeypatch.setattr(spam, "COUNT_CAP", 2)
    for n in range(3):
        hold(submit, db, email=f"p{n}@example.com")
    login_as("manager")
    assert "2+</span>" in text(client.get("/staff/spam"))


def test_the_dismiss_all_form_lists_the_page(submit, client, db, login_as):
    held = [hold(submit, db, email=f"b{n}@example.com") for n in range(2)]
    login_as("manager")
    page = client.get("/staff/spam").get_data(as_text=True)
    form = page.split('action="/staff/spam/dismiss"', 1)[1].split("</form>", 1)[0]
    assert {f'name="ids" value="{h.id}"' for h in held} <= set(
        re.findall(r'name="ids" value="\d+"', form)
    )


def test_a_hold_from_after_the_lead_was_closed_reopens_it(submit, client, db, login_as):
    # Held A came before the lead was closed, held B after. Releasing A first (which touches
    # the lead) must not stop B, a request newer than the decision, from reopening it.
    submit(valid_form(**PERSON))
    manager = login_as("manager")
    lead = db.scalars(select(Lead)).one()
    before_close = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    leads.change_status(db, lead, "not_interested", Actor(user=manager), utcnow())
    db.commit()
    early = hold(submit, db)
    db.execute(update(Submission).where(Submission.id == early.id).values(received_at=before_close))
    db.commit()
    late = hold(submit, db)
    client.post(f"/staff/spam/{early.id}/release")
    db.expire_all()
    assert db.get(Lead, lead.id).status == "not_interested"
    response = client.post(f"/staff/spam/{late.id}/release")
    assert "closed lead is open again" in text(client.get(response.headers["Location"]))
    db.expire_all()
    assert db.get(Lead, lead.id).status == "new"


def test_a_released_old_request_counts_from_the_release(submit, client, db, login_as):
    # Held 59 days ago, released now: a counselor could not have called before today, so the
    # queue's age and speed to lead start at the release, not "59 d · Over 15 min".
    held = hold(submit, db)
    sent = utcnow() - dt.timedelta(days=59)
    backdate(db, held, sent)
    login_as("manager")
    client.post(f"/staff/spam/{held.id}/release")
    lead = db.scalars(select(Lead)).one()

    queue = text(client.get("/staff/"))
    assert re.search(r">0 min</time>", queue)
    assert "59 d" not in queue
    assert "Over 15 min" not in queue
    page = text(client.get(f"/staff/leads/{lead.id}"))
    assert "Not contacted yet · 0 min" in page
    assert f"{sent.astimezone(STAFF_TZ):%b} {sent.astimezone(STAFF_TZ).day}," in page  # as sent

    # Called 10 minutes after the release: 10 minutes to first contact, not 59 days.
    released = review_time(db) - dt.timedelta(minutes=10)
    db.execute(update(Lead).where(Lead.id == lead.id).values(last_submitted_at=released))
    db.execute(update(Activity).where(Activity.lead_id == lead.id).values(created_at=released))
    db.commit()
    client.post(f"/staff/leads/{lead.id}/contacts", data={"channel": "call", "outcome": "reached"})
    page = text(client.get(f"/staff/leads/{lead.id}"))
    assert "10 min to first contact" in page
    db.expire_all()
    copy = db.scalars(select(Submission).where(Submission.spam_verdict == "ok")).one()
    assert copy.received_at == sent


def test_a_released_old_request_brings_an_open_lead_to_the_top(submit, client, db, login_as):
    # The person's open lead had a request yesterday; their request held 59 days ago is
    # released today: one more request to work, from now, never moving the clock back.
    submit(valid_form(**PERSON))
    lead = db.scalars(select(Lead)).one()
    yesterday = utcnow() - dt.timedelta(days=1)
    lead.last_submitted_at = yesterday
    db.commit()
    held = hold(submit, db)
    backdate(db, held, utcnow() - dt.timedelta(days=59))
    login_as("manager")
    client.post(f"/staff/spam/{held.id}/release")
    db.expire_all()
    assert db.get(Lead, lead.id).last_submitted_at == review_time(db)


def spam_names(page: str) -> list[str]:
    """The names of the held requests listed, top to bottom."""
    return re.findall(r'<h2 class="h6 mb-0">([^<]*)</h2>', page)


def test_to_review_is_in_received_order_with_a_matching_cursor(client, db, login_as, monkeypatch):
    # Stored in one order, sent in another (a slow client, a clock skew, a retried POST):
    # the list goes by when each request was received, ties broken by id, across pages.
    from leadform.core import quarantine as spam

    monkeypatch.setattr(spam, "PAGE_SIZE", 4)
    consent = service.get_active_consent(db)
    base = utcnow() - dt.timedelta(days=2)
    offsets = [5, 1, 9, 1, 7, 3, 3, 3, 8, 0, 2]  # hours; ties on 1 and 3
    for n, hours in enumerate(offsets):
        service.quarantine_submission(
            db,
            {"first_name": f"Bot{n:02d}", "last_name": "X", "email": f"b{n}@example.com"},
            service.Evidence(received_at=base + dt.timedelta(hours=hours)),
            idempotency_key=f"test:{n}",
            reasons=["honeypot"],
            consent=consent,
            program=None,
        )
    db.commit()
    login_as("manager")
    seen, url = [], "/staff/spam"
    for _ in range(10):
        page = text(client.get(url))
        seen.append(spam_names(page))
        older = re.search(r'href="([^"]+)" rel="next">Older', page)
        if older is None:
            break
        url = older.group(1)
    expected = sorted(range(len(offsets)), key=lambda n: (offsets[n], n), reverse=True)
    assert [len(p) for p in seen] == [4, 4, 3]
    assert [name for p in seen for name in p] == [f"Bot{n:02d} X" for n in expected]


def test_a_garbled_cursor_shows_the_first_page(submit, client, db, login_as):
    hold(submit, db)
    login_as("manager")
    for after in ("junk", "12_", "_3", "-1_2", "1_99999999999", "\x00", "²_1", "9" * 40):
        response = client.get("/staff/spam", query_string={"after": after})
        assert response.status_code == 200
        assert "Aisha Okafor" in text(response)


def test_a_request_that_can_never_be_released_shows_why_instead_of_the_button(
    submit, client, db, login_as
):
    fine = hold(submit, db)
    url_name = hold(submit, db, email="b@example.com", first_name="Visit http://spam.example")
    no_consent = hold(submit, db, email="c@example.com", consent=None)
    bad_email = hold(submit, db, email="not-an-email")
    login_as("manager")
    page = text(client.get("/staff/spam"))
    assert f"/staff/spam/{fine.id}/release" in page
    for held, why in (
        (url_name, "First name: holds a web address or markup"),
        (no_consent, "Consent: the person did not agree to be contacted."),
        (bad_email, "Email:"),
    ):
        assert f"/staff/spam/{held.id}/release" not in page
        assert f"/staff/spam/{held.id}/dismiss" in page  # still there to dismiss
        reason = re.search(rf'id="problem-{held.id}">(.*?)</p>', page, re.S)
        assert reason, held.email
        assert "Can't be released as a lead." in reason.group(1)
        assert why in reason.group(1)
    assert f'id="problem-{fine.id}"' not in page


def test_a_program_no_longer_offered_shows_why_on_the_page(submit, client, db, login_as):
    held = hold(submit, db)
    db.execute(update(Program).where(Program.id == held.program_id).values(active=False))
    db.commit()
    login_as("manager")
    page = text(client.get("/staff/spam"))
    assert f"/staff/spam/{held.id}/release" not in page
    assert "is no longer offered" in page


def badge(page: str) -> str | None:
    """The count next to the header's Spam link, if shown."""
    match = re.search(r'>Spam <span class="badge[^"]*">([^<]+)<span class="visually-hidden">', page)
    return match.group(1) if match else None


def test_managers_see_how_many_requests_wait_in_the_header(
    submit, client, db, login_as, monkeypatch
):
    from leadform.core import quarantine as spam

    manager = login_as("manager")
    assert badge(text(client.get("/staff/"))) is None  # nothing waits: no badge
    held = [hold(submit, db, email=f"p{n}@example.com") for n in range(3)]
    for url in ("/staff/", "/staff/spam", "/staff/spam?view=reviewed"):
        assert badge(text(client.get(url))) == "3", url
    client.post(f"/staff/spam/{held[0].id}/dismiss")
    assert badge(text(client.get("/staff/"))) == "2"
    monkeypatch.setattr(spam, "COUNT_CAP", 1)
    assert badge(text(client.get("/staff/"))) == "1+"
    client.post("/staff/logout")
    login_as("counselor")
    page = text(client.get("/staff/"))
    assert "/staff/spam" not in page
    assert badge(page) is None
    assert manager  # the manager stays a manager; the counselor sees nothing of spam


def test_held_phone_numbers_read_like_the_rest_of_the_workspace(submit, client, db, login_as):
    hold(submit, db, phone="317.555.0123")
    hold(submit, db, email="uk@example.com", phone="020 7946 0958", country="GB", postal_code="")
    hold(submit, db, email="odd@example.com", phone="call me maybe")
    login_as("manager")
    page = text(client.get("/staff/spam"))
    assert "(317) 555-0123" in page  # national: the staff's own country
    assert "+44 20 7946 0958" in page  # international: another country's
    assert "call me maybe" in page  # not a number: as typed
