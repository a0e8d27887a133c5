"""The request form says one thing about contact and asks for a number before texts."""

from __future__ import annotations

import hashlib
import re
from html import unescape

import pytest
from factories import PROGRAM, count, valid_form
from sqlalchemy import select

from leadform.core.errors import ValidationFailed
from leadform.core.intake.catalog import read_catalog as read_active_catalog
from leadform.core.intake.inquiry import SMS_OPT_IN_TEXT, parse_inquiry
from leadform.core.programs import load_catalog, read_catalog, set_consent_text
from leadform.models import ConsentText, Prospect, Submission

#: The consent text this catalog shipped with before the wording was made to agree.
OLD_CONSENT = (
    "By checking this box and selecting Request information, I agree that the college and "
    "its representatives may contact me about educational programs by email, phone and text "
    "message, including with automated technology, at the contact details I provided. Consent "
    "is not a condition of enrollment. I can withdraw it at any time. See our privacy policy "
    "for how we use my information."
)


def field_message(html: str, field_id: str) -> str:
    """The message shown next to a field ("" when none)."""
    found = re.search(rf'<div class="field-error" id="{field_id}-error">(.*?)</div>', html, re.S)
    if not found:
        return ""
    return unescape(re.sub(r"<[^>]+>", "", found.group(1))).removeprefix("Error:").strip()


def summary_line(html: str, field_id: str) -> str:
    """The error summary's line that links to a field ("" when none)."""
    found = re.search(rf'<a href="#{field_id}">(.*?)</a>', html, re.S)
    return unescape(" ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())) if found else ""


def label_of(html: str, field_id: str) -> str:
    found = re.search(rf'<label class="form(?:-check)?-label" for="{field_id}">(.*?)</label>', html)
    assert found, field_id
    return unescape(found.group(1))


def help_of(html: str, field_id: str) -> str:
    found = re.search(rf'<div class="form-text" id="{field_id}-help">(.*?)</div>', html)
    return unescape(found.group(1)) if found else ""


# --- 6. one story about how we contact you -----------------------------------------------


def test_consent_phone_hint_and_text_opt_in_say_the_same_thing(client, db):
    html = client.get(f"/programs/{PROGRAM}").get_data(as_text=True)
    consent = label_of(html, "consent")
    phone_hint = help_of(html, "phone")
    texts = label_of(html, "sms_opt_in")
    # The required consent: email and calls about the request, texts only with the box.
    assert "by email and by phone call" in consent
    assert "text message" not in consent.replace("I will get text messages only if", "")
    assert "only if I also check the “Text me” box below" in consent
    assert texts.startswith("Text me about my request")
    # The phone hint promises calls, never texts.
    assert phone_hint.startswith("Optional.")
    assert "call" in phone_hint
    assert "text" not in phone_hint.lower()


def test_loading_the_bundled_catalog_publishes_the_new_wording_as_a_new_version(db):
    # A database still showing the old wording, as every install before this change.
    old, _ = set_consent_text(db, OLD_CONSENT)
    db.commit()
    result = load_catalog(db, read_catalog())
    db.commit()
    assert result.consent_changed is True
    assert result.consent_version == old.version + 1
    active = read_active_catalog(db).consent
    assert active is not None
    assert active.version == old.version + 1
    assert "by email and by phone call" in active.text
    assert db.get(ConsentText, old.id).active is False  # kept, for the submissions that saw it


def test_text_opt_in_keeps_the_wording_ticked_as_evidence(submit, client, db, login_as):
    html = client.get("/request-info").get_data(as_text=True)
    shown = label_of(html, "sms_opt_in")
    assert submit(valid_form(sms_opt_in="y")).status_code == 303
    assert submit(valid_form(email="noah@example.com")).status_code == 303
    opted, not_opted = db.scalars(select(Submission).order_by(Submission.id))
    assert opted.sms_opt_in is True
    assert opted.sms_opt_in_text == shown == SMS_OPT_IN_TEXT
    assert opted.sms_opt_in_sha256 == hashlib.sha256(shown.encode()).hexdigest()
    assert (not_opted.sms_opt_in, not_opted.sms_opt_in_text, not_opted.sms_opt_in_sha256) == (
        False,
        None,
        None,
    )
    # Staff read the wording with the submission's evidence.
    login_as("admin")
    page = client.get(f"/staff/leads/{opted.lead_id}").get_data(as_text=True)
    assert "Show the text opt-in wording" in page
    assert SMS_OPT_IN_TEXT in unescape(page)


# --- 7. texts need a phone number ----------------------------------------------------------


def test_text_me_without_a_phone_number_asks_for_one(submit, db):
    response = submit(valid_form(phone="", sms_opt_in="y"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    message = "Enter a mobile number to get texts, or uncheck “Text me about my request”."
    assert field_message(html, "phone") == message
    assert summary_line(html, "phone") == f"Phone: {message}"
    assert re.search(r'<input checked [^>]*id="sms_opt_in"', html)  # the tick is kept
    assert count(db, Submission) == count(db, Prospect) == 0


def test_the_rule_is_the_cores_so_every_door_gets_it(app):
    programs = {PROGRAM: _program(app)}
    fields = valid_form(phone="  ", sms_opt_in=True)
    with pytest.raises(ValidationFailed) as failed:
        parse_inquiry(fields, programs)
    assert list(failed.value.errors) == ["phone"]
    inquiry = parse_inquiry(valid_form(sms_opt_in=True), programs)
    assert (inquiry.sms_opt_in, inquiry.phone_e164) == (True, "+13175550123")
    assert parse_inquiry(valid_form(phone=""), programs).sms_opt_in is False


def _program(app):
    from leadform.context import get_session

    with app.app_context():
        return read_active_catalog(get_session()).by_slug[PROGRAM]
