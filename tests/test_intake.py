"""The request-info form: what a prospective student sees and what gets stored."""

from __future__ import annotations

import pytest
from factories import PROGRAM, count, valid_form
from sqlalchemy import select

from leadform.models import Activity, Lead, OutboxMessage, Prospect, Submission


def test_directory_lists_active_programs_with_links(client):
    html = client.get("/").get_data(as_text=True)
    assert "Medical Billing and Coding Certificate" in html
    assert "Master of Health Informatics" in html
    assert f'href="/request-info?program={PROGRAM}"' in html
    assert "Request information" in html


def test_program_page_shows_form_with_contract_fields(client):
    html = client.get(f"/programs/{PROGRAM}").get_data(as_text=True)
    for name in (
        "first_name",
        "last_name",
        "email",
        "phone",
        "postal_code",
        "country",
        "start_term",
        "education_level",
        "military",
        "comments",
        "consent",
        "sms_opt_in",
        "utm_source",
        "form_token",
        "website",
    ):
        assert f'name="{name}"' in html, name
    for label in (
        "First name",
        "Last name",
        "Email",
        "Phone",
        "ZIP code",
        "Country",
        "Preferred start",
        "Highest level of education",
        "Military affiliation",
        "Questions or comments",
        ">Request information</button>",
    ):
        assert label in html, label
    assert "may contact me about educational programs" in html  # the active consent text
    assert 'name="consent" type="checkbox" value="y" checked' not in html


def test_unknown_program_page_is_a_friendly_404(client):
    response = client.get("/programs/no-such-program")
    assert response.status_code == 404
    assert "couldn" in response.get_data(as_text=True)


def test_request_info_preselects_program(client):
    html = client.get(f"/request-info?program={PROGRAM}").get_data(as_text=True)
    assert f'<option selected value="{PROGRAM}">' in html


def test_happy_path_stores_everything_and_redirects(client, submit, db):
    response = submit(page=f"/programs/{PROGRAM}?utm_source=google&utm_campaign=fall")
    assert response.status_code == 303
    assert response.headers["Location"] == "/request-info/thanks"
    thanks = client.get("/request-info/thanks").get_data(as_text=True)
    assert "Medical Billing and Coding Certificate" in thanks

    prospect = db.scalars(select(Prospect)).one()
    assert prospect.email == "maria@example.com"
    assert prospect.phone == "+13175550123"
    assert prospect.last_name == "O'Neil-Gómez"
    lead = db.scalars(select(Lead)).one()
    assert (lead.status, lead.submission_count, lead.utm_source) == ("new", 1, "google")
    sub = db.scalars(select(Submission)).one()
    assert sub.lead_id == lead.id
    assert sub.spam_verdict == "ok"
    assert sub.consent
    assert sub.consent_version == 1
    assert len(sub.consent_sha256) == 64
    assert sub.utm_campaign == "fall"
    assert sub.ip == "127.0.0.1"
    assert sub.page_url.startswith(f"http://localhost/programs/{PROGRAM}")
    assert [a.kind for a in db.scalars(select(Activity))] == ["submitted"]
    # The lead's event (team alert, webhook) and the prospect's confirmation.
    assert sorted(m.kind for m in db.scalars(select(OutboxMessage))) == [
        "lead.created",
        "prospect.confirmation",
    ]


def test_same_person_other_case_is_one_prospect_one_lead(submit, db):
    submit(valid_form(email="maria@example.com"))
    submit(valid_form(email="  MARIA@Example.COM "))
    assert count(db, Prospect) == 1
    assert count(db, Lead) == 1
    assert count(db, Submission) == 2
    lead = db.scalars(select(Lead)).one()
    assert lead.submission_count == 2
    kinds = sorted(a.kind for a in db.scalars(select(Activity)))
    assert kinds == ["resubmitted", "submitted"]


def test_second_program_is_second_lead(submit, db):
    submit(valid_form())
    submit(valid_form(program="master-health-informatics"))
    assert count(db, Prospect) == 1
    assert count(db, Lead) == 2


def test_resubmission_reopens_closed_lead(submit, db):
    submit(valid_form())
    lead = db.scalars(select(Lead)).one()
    lead.status = "not_interested"
    db.commit()
    submit(valid_form(first_name="Mary"))
    db.expire_all()
    lead = db.scalars(select(Lead)).one()
    assert lead.status == "new"
    assert db.scalars(select(Prospect)).one().first_name == "Mary"
    assert any(a.kind == "status_changed" for a in db.scalars(select(Activity)))


def test_errors_keep_values_and_link_from_summary(submit, db):
    response = submit(valid_form(email="not-an-email", first_name="Zoë", consent=None))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="not-an-email"' in html
    assert 'value="Zoë"' in html
    assert 'href="#email"' in html
    assert 'href="#consent"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-error"' in html
    assert count(db, Submission) == 0


def test_same_form_token_twice_is_one_submission(client, db):
    from factories import hidden_fields

    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    first = client.post("/request-info", data={**fields, **valid_form()})
    second = client.post("/request-info", data={**fields, **valid_form()})
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(db, Submission) == 1


def test_same_form_token_for_another_program_gets_the_first_answer(client, db):
    # Sent, then back, another program picked, sent again: nothing new is stored, and the
    # thanks page names the program that was requested, not the one that was not stored.
    from factories import hidden_fields

    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    first = client.post("/request-info", data={**fields, **valid_form()})
    other = valid_form(program="master-health-informatics")
    second = client.post("/request-info", data={**fields, **other})
    assert first.status_code == second.status_code == 303
    thanks = client.get("/request-info/thanks").get_data(as_text=True)
    assert "Medical Billing and Coding Certificate" in thanks
    assert "Master of Health Informatics" not in thanks
    assert count(db, Submission) == 1
    assert count(db, Lead) == 1


def test_health_endpoints(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["database"] == "ok"


def test_request_info_page_happy_path_with_program_selector(submit, client, db):
    response = submit(valid_form(program="master-health-informatics"))
    assert response.status_code == 303
    assert response.headers["Location"] == "/request-info/thanks"
    assert "Master of Health Informatics" in client.get("/request-info/thanks").get_data(
        as_text=True
    )
    lead = db.scalars(select(Lead)).one()
    assert lead.program.slug == "master-health-informatics"
    assert db.scalars(select(Submission)).one().page_url == "http://localhost/request-info"


def test_thanks_url_carries_no_personal_data(submit):
    response = submit(valid_form())
    assert "maria" not in response.headers["Location"].lower()
    assert "?" not in response.headers["Location"]


def test_newest_submission_updates_prospect_but_omitted_phone_is_kept(submit, db):
    submit(valid_form())
    submit(
        valid_form(
            first_name="Mary",
            last_name="Smith",
            email="Maria@Example.com",
            phone="",
            postal_code="10001",
            sms_opt_in="y",
        )
    )
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.first_name, prospect.last_name) == ("Mary", "Smith")
    assert prospect.email == "Maria@example.com"
    assert prospect.phone == "+13175550123"  # left blank the second time: the old one stays
    assert prospect.postal_code == "10001"
    assert prospect.sms_opt_in is True
    first, second = db.scalars(select(Submission).order_by(Submission.id))
    # The submissions keep exactly what each request said.
    assert (first.first_name, first.phone_e164) == ("Maria", "+13175550123")
    assert (second.first_name, second.phone, second.phone_e164) == ("Mary", "", None)


@pytest.mark.parametrize(
    ("status", "after"),
    [
        ("not_interested", "new"),
        ("unreachable", "new"),
        ("invalid", "new"),
        ("contacted", "contacted"),
        ("applied", "applied"),
        ("enrolled", "enrolled"),
    ],
)
def test_resubmission_reopens_only_closed_leads(submit, db, status, after):
    submit(valid_form())
    lead = db.scalars(select(Lead)).one()
    lead.status = status
    db.commit()
    submit(valid_form())
    db.expire_all()
    lead = db.scalars(select(Lead)).one()
    assert lead.status == after
    assert lead.submission_count == 2
    reopened = [a for a in db.scalars(select(Activity)) if a.kind == "status_changed"]
    assert len(reopened) == (1 if after == "new" else 0)


def test_a_failure_while_storing_leaves_nothing_behind(app, client, monkeypatch):
    # No `db` fixture here: its app context would be shared with the request and keep
    # the failed request's session (and its uncommitted rows) alive.
    from factories import hidden_fields

    from leadform.context import get_session

    class BrokenOutbox:
        """Fails as the outbox row is written (after the other rows of the submission)."""

        @property
        def __table__(self):
            raise RuntimeError("outbox unavailable")

    from leadform.core import outbox

    monkeypatch.setattr(outbox, "OutboxMessage", BrokenOutbox())
    fields = hidden_fields(client.get("/request-info").get_data(as_text=True))
    with pytest.raises(RuntimeError, match="outbox unavailable"):
        client.post("/request-info", data={**fields, **valid_form()})
    with app.app_context():
        session = get_session()
        for model in (Prospect, Lead, Submission, Activity, OutboxMessage):
            assert count(session, model) == 0, model.__name__


def test_a_stored_submission_cannot_be_changed(submit, db):
    import pytest

    from leadform.models import ImmutableEvidenceError

    submit(valid_form())
    submission = db.scalars(select(Submission)).one()
    submission.comments = "edited later"
    with pytest.raises(ImmutableEvidenceError):
        db.flush()
    db.rollback()
    assert db.scalars(select(Submission)).one().comments == "Can I study part time?"


def test_errors_on_a_program_page_re_render_that_program_page(client, db):
    from factories import hidden_fields

    page = client.get(f"/programs/{PROGRAM}").get_data(as_text=True)
    fields = hidden_fields(page)
    assert fields["return_to"] == "program"
    response = client.post("/request-info", data={**fields, **valid_form(email="nope")})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Medical records specialists turn a patient" in html  # the program description
    assert 'value="nope"' in html
    assert 'id="email-error"' in html
    # The title tells screen-reader users at once that the page came back with errors.
    assert "<title>Error: Medical Billing and Coding Certificate |" in html
    assert count(db, Submission) == 0
    assert "<title>Medical Billing and Coding Certificate |" in client.get(
        f"/programs/{PROGRAM}"
    ).get_data(as_text=True)


def test_the_thanks_page_opened_directly_leads_to_the_form(client):
    # Nothing was sent from this browser: no "we've received your request".
    response = client.get("/request-info/thanks")
    assert response.status_code == 303
    assert response.headers["Location"] == "/request-info"


def test_an_older_request_stored_last_does_not_move_the_lead_back_in_time(db):
    # Two copies racing: the one that waited on the lead's lock can be the older request.
    import datetime as dt

    from leadform.core.intake import store as service

    def store(received_at: dt.datetime, key: str, first_name: str) -> None:
        inquiry = service.Inquiry(
            first_name=first_name,
            last_name="Jones",
            email="pat@example.com",
            email_normalized="pat@example.com",
            program=service.get_program(db, PROGRAM),
            consent=True,
        )
        service.record_submission(
            db,
            inquiry,
            service.Evidence(received_at=received_at),
            idempotency_key=key,
            consent=service.get_active_consent(db),
        )
        db.commit()

    newer = dt.datetime(2026, 11, 27, 12, 0, 1, tzinfo=dt.UTC)
    store(newer, "test:newer", "Patricia")
    store(newer - dt.timedelta(seconds=1), "test:older", "Pat")
    db.expire_all()
    lead = db.scalars(select(Lead)).one()
    assert (lead.submission_count, lead.last_submitted_at) == (2, newer)
    # The person's details come from the newest request, whichever was stored last.
    assert db.scalars(select(Prospect)).one().first_name == "Patricia"


def test_the_privacy_policy_is_linked_when_configured(app, app_config):
    # The consent text says "See our privacy policy": the link goes where the college says.
    from leadform import create_app

    url = "https://www.college.example/privacy"
    configured = create_app({**app_config, "PRIVACY_URL": url})  # the same database
    try:
        for client, linked in ((configured.test_client(), True), (app.test_client(), False)):
            for page in (f"/programs/{PROGRAM}", "/request-info", "/"):
                html = client.get(page).get_data(as_text=True)
                assert (f'href="{url}"' in html) is linked, page
            form_page = client.get("/request-info").get_data(as_text=True)
            assert ("Read our privacy policy" in form_page) is linked
    finally:
        configured.extensions["leadform.engine"].dispose()  # no connection left to the GC
