"""Spam is quarantined quietly; a form token is stored once however often it is sent."""

from __future__ import annotations

import pytest
from factories import PROGRAM, count, form_token, hidden_fields, valid_form
from sqlalchemy import select

from leadform.models import Activity, Lead, OutboxMessage, Prospect, Submission


def assert_quarantined(db, reason: str) -> Submission:
    """One quarantined submission with this reason, and nothing a counselor would see."""
    submission = db.scalars(select(Submission)).one()
    assert submission.spam_verdict == "quarantined"
    assert reason in submission.spam_reasons.split(",")
    assert submission.lead_id is None
    assert submission.prospect_id is None
    for model in (Prospect, Lead, Activity, OutboxMessage):
        assert count(db, model) == 0, model.__name__
    return submission


def assert_thanks(client, response) -> None:
    assert response.status_code == 303
    assert response.headers["Location"] == "/request-info/thanks"
    assert "Thank you, we" in client.get("/request-info/thanks").get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"website": "http://spam.example"}, "honeypot"),
        ({"website": "anything"}, "honeypot"),
        ({"first_name": "Visit http://spam.example"}, "url_in_name"),
        ({"first_name": "https:cheap"}, "url_in_name"),
        ({"last_name": "www.cheap-pills"}, "url_in_name"),
        ({"last_name": "Best Deals.com"}, "url_in_name"),
        ({"first_name": "cheap-pills.shop"}, "url_in_name"),
        ({"last_name": "Casino.Online"}, "url_in_name"),
        ({"first_name": "Win.Bet"}, "url_in_name"),
        ({"last_name": "Buy.Store"}, "url_in_name"),
        ({"first_name": "<a href=x>Maria</a>"}, "url_in_name"),
        ({"last_name": "<script>alert(1)</script>"}, "url_in_name"),
        ({"first_name": "[url=x]Maria[/url]"}, "url_in_name"),
        ({"first_name": '=HYPERLINK("http://evil.example","Click")'}, "url_in_name"),
    ],
)
def test_spam_is_quarantined_and_thanked(submit, client, db, overrides, reason):
    response = submit(valid_form(**overrides))
    assert_thanks(client, response)
    submission = assert_quarantined(db, reason)
    # Kept as evidence, exactly as sent (the honeypot has no column: its verdict is the record).
    for name, value in overrides.items():
        if name != "website":
            assert getattr(submission, name) == value


@pytest.mark.parametrize(
    "name",
    [
        "J.R.",
        "St. John",
        "Mary-Kate",
        "Dr. Ana Co",
        "A.J. Smith",
        "Ng.",
        "Jean-Luc Me",
        "Tran Thi",
        "Mc.Co",
        "Al.In",
        "Wm.De Vries",
        "Jr.In",
    ],
)
def test_names_with_periods_are_people_not_spam(submit, db, name):
    # The domain rule must not quarantine a person: a quarantined request reaches nobody.
    assert submit(valid_form(first_name=name)).status_code == 303
    assert db.scalars(select(Submission)).one().spam_verdict == "ok", name


def test_url_in_name_is_quarantined_even_when_other_fields_are_invalid(submit, client, db):
    # Checked before the field rules: a bot gets the thanks page, not a list of what to fix.
    response = submit(
        valid_form(first_name="http://spam.example", email="not-an-email", consent=None)
    )
    assert_thanks(client, response)
    assert_quarantined(db, "url_in_name")


@pytest.fixture
def slow_trap(app_config):
    """The production time trap: a form sent within 3 seconds of loading is a bot."""
    app_config["MIN_FORM_SECONDS"] = 3


def test_too_fast_is_quarantined(slow_trap, client, db):
    # Loaded and posted at once: faster than any person types.
    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    response = client.post("/request-info", data={**fields, **valid_form()})
    assert_thanks(client, response)
    assert_quarantined(db, "too_fast")


def test_an_empty_form_sent_at_once_shows_the_errors_not_a_thanks_page(slow_trap, client, db):
    # A person who selects the button straight away must learn what is missing; nothing is
    # stored and no thanks page claims a request was received.
    page = client.get("/request-info").get_data(as_text=True)
    fields = hidden_fields(page)
    response = client.post("/request-info", data={**fields, **valid_form(email="", consent=None)})
    assert response.status_code == 422
    assert "Enter your email address." in response.get_data(as_text=True)
    assert count(db, Submission) == 0
    # Fixed and sent again at once: valid now, and still within 3 s of loading: quarantined.
    again = hidden_fields(response.get_data(as_text=True))
    assert again["form_token"] == fields["form_token"]  # the time trap goes on counting
    client.post("/request-info", data={**again, **valid_form()})
    assert_quarantined(db, "too_fast")


def test_form_filled_in_at_human_speed_is_accepted(slow_trap, app, client, db):
    data = {"form_token": form_token(app, age=10), **valid_form()}
    assert client.post("/request-info", data=data).status_code == 303
    assert db.scalars(select(Submission)).one().spam_verdict == "ok"
    assert count(db, Lead) == 1


def test_quarantine_strips_nul_but_keeps_the_rest(submit, db):
    submit(valid_form(website="x", first_name="Ma\x00ria\x07", comments="a" * 3000))
    submission = assert_quarantined(db, "honeypot")
    assert submission.first_name == "Maria\x07"
    assert submission.comments == "a" * 3000


def test_several_reasons_are_all_recorded(slow_trap, client, db):
    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    data = {**fields, **valid_form(website="x", last_name="www.example")}
    client.post("/request-info", data=data)
    submission = assert_quarantined(db, "honeypot")
    assert set(submission.spam_reasons.split(",")) == {"honeypot", "too_fast", "url_in_name"}


# --- idempotency ---------------------------------------------------------------------------


def test_same_form_token_twice_is_one_submission_and_the_same_answer(app, client, db):
    data = {"form_token": form_token(app), **valid_form()}
    first = client.post("/request-info", data=data)
    second = client.post("/request-info", data=data)
    assert (first.status_code, first.headers["Location"]) == (
        second.status_code,
        second.headers["Location"],
    )
    assert first.status_code == 303
    assert count(db, Submission) == 1
    assert db.scalars(select(Lead)).one().submission_count == 1


def test_replay_with_other_data_changes_nothing(app, client, db):
    token = form_token(app)
    client.post("/request-info", data={"form_token": token, **valid_form()})
    replay = client.post(
        "/request-info", data={"form_token": token, **valid_form(first_name="Eve")}
    )
    assert replay.status_code == 303
    assert [s.first_name for s in db.scalars(select(Submission))] == ["Maria"]
    assert db.scalars(select(Prospect)).one().first_name == "Maria"


def test_token_of_a_refused_form_still_works_after_fixing(app, client, db):
    token = form_token(app)
    refused = client.post("/request-info", data={"form_token": token, **valid_form(email="bad")})
    assert refused.status_code == 422
    kept = hidden_fields(refused.get_data(as_text=True))["form_token"]
    assert kept == token
    accepted = client.post("/request-info", data={"form_token": kept, **valid_form()})
    assert accepted.status_code == 303
    assert count(db, Submission) == 1


def test_quarantined_token_twice_is_one_submission(app, client, db):
    data = {"form_token": form_token(app), **valid_form(website="spam")}
    assert client.post("/request-info", data=data).status_code == 303
    assert client.post("/request-info", data=data).status_code == 303
    assert count(db, Submission) == 1


def test_each_new_form_is_a_new_submission(submit, db):
    submit(valid_form())
    submit(valid_form(), page=f"/programs/{PROGRAM}")
    assert count(db, Submission) == 2
    assert db.scalars(select(Lead)).one().submission_count == 2
