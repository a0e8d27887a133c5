"""The request form says one thing about contact, asks for a number before texts, follows the
country for the postal code, and hints at a mistyped email domain (without changing it)."""

from __future__ import annotations

import hashlib
import re
from html import unescape

import pytest
from factories import PROGRAM, count, valid_form
from sqlalchemy import select

from leadform.core.errors import ValidationFailed
from leadform.core.intake import validation as v
from leadform.core.intake.catalog import read_catalog as read_active_catalog
from leadform.core.intake.email_typos import suggest_email
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


# --- 8. the postal code follows the country ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("K1A 0B1", "K1A 0B1"),
        ("k1a0b1", "K1A 0B1"),
        ("k1a-0b1", "K1A 0B1"),
        ("M5V  2T6", "M5V 2T6"),
        ("t2p 1j9", "T2P 1J9"),
    ],
)
def test_canadian_postal_codes_are_stored_upper_case_with_one_space(value, stored):
    assert v.clean_postal_code(value, "CA") == stored


@pytest.mark.parametrize("value", ["12345", "K1A 0B", "K1A 0B12", "D1A 0B1", "K1O 0B1", "1KA 0B1"])
def test_a_canadian_postal_code_must_look_like_one(value):
    with pytest.raises(v.FieldError, match="Enter a Canadian postal code, like K1A 0B1."):
        v.clean_postal_code(value, "CA")


def test_zip_codes_for_the_us_and_its_territories_free_codes_elsewhere():
    assert v.clean_postal_code("00901", "PR") == "00901"
    with pytest.raises(v.FieldError, match="5-digit ZIP code"):
        v.clean_postal_code("K1A 0B1", "PR")
    assert v.clean_postal_code("d02 x285", "IE") == "D02 X285"
    assert v.clean_postal_code("1010", "AT") == "1010"
    with pytest.raises(v.FieldError, match="12 characters or fewer"):
        v.clean_postal_code("1" * 13, "FR")
    assert [v.postal_code_label(c) for c in ("US", "PR", None, "CA", "GB")] == [
        "ZIP code",
        "ZIP code",
        "ZIP code",
        "Postal code",
        "Postal code",
    ]


def test_the_form_labels_and_checks_the_postal_code_for_the_country_sent(submit, client, db):
    assert label_of(client.get("/request-info").get_data(as_text=True), "postal_code") == "ZIP code"
    canada = {"country": "CA", "phone": "(416) 555-0123"}
    response = submit(valid_form(**canada, postal_code="46204"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert label_of(html, "postal_code") == "Postal code"
    assert field_message(html, "postal_code") == "Enter a Canadian postal code, like K1A 0B1."
    assert summary_line(html, "postal_code").startswith("Postal code: Enter a Canadian")
    assert count(db, Submission) == 0

    assert submit(valid_form(**canada, postal_code="m5v2t6")).status_code == 303
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.country, prospect.postal_code) == ("CA", "M5V 2T6")

    html = submit(valid_form(first_name="", country="GB", phone="")).get_data(as_text=True)
    assert label_of(html, "postal_code") == "Postal code"


# --- 9. "Did you mean ...@gmail.com?" ------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("maria@gmial.con", "maria@gmail.com"),
        ("Maria.Lopez@yaho.com", "Maria.Lopez@yahoo.com"),
        ("maria@hotmial.com", "maria@hotmail.com"),
        ("maria@gmail.co", "maria@gmail.com"),
        ("maria@outlok.com", "maria@outlook.com"),
        ("maria@GMAIL.CMO", "maria@gmail.com"),
        ("maria@icloud.co", "maria@icloud.com"),
        ("maria@sbcglobl.net", "maria@sbcglobal.net"),
        ("maria@riverbend.con", "maria@riverbend.com"),
        # Addresses as meant: no hint.
        ("maria@gmail.com", None),
        ("maria@example.com", None),
        ("maria@ivytech.edu", None),
        ("maria@yahoo.ca", None),
        ("maria@hotmail.co.uk", None),
        ("maria@outlook.fr", None),
        ("maria@qq.com", None),
        ("maria@att.com", None),
        ("maria@gm.com", None),
        ("maria@email.com", None),
        ("maria@", None),
        ("maria gmial.com", None),
        ("", None),
    ],
)
def test_email_domain_typos_get_a_suggestion(typed, suggested):
    assert suggest_email(typed) == suggested


def test_a_re_shown_form_hints_at_the_email_typo_without_changing_it(submit):
    response = submit(valid_form(first_name="", email="maria@gmial.con"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="maria@gmial.con"' in html  # what was typed stays in the field
    hint = re.search(
        r'<div class="email-hint has-hint" id="email-hint" aria-live="polite"[^>]*>(.*?)</div>',
        html,
        re.S,
    )
    assert hint, "no hint, or not announced"
    text = unescape(re.sub(r"<[^>]+>", " ", hint.group(1)))
    assert "Did you mean maria@gmail.com ?" in " ".join(text.split())
    assert re.search(r'<button type="button"[^>]*data-email="maria@gmail.com"', hint.group(1))
    # The email field's description includes the hint, so a screen reader reads it there.
    email_input = re.search(r'<input[^>]*id="email"[^>]*>', html).group(0)
    assert "email-hint" in re.search(r'aria-describedby="([^"]*)"', email_input).group(1)
    # Only a hint: it is no error and is not in the summary.
    assert field_message(html, "email") == ""
    assert summary_line(html, "email") == ""


def test_an_address_with_a_hint_is_still_sent_as_typed(submit, db):
    assert submit(valid_form(email="maria@gmial.con")).status_code == 303
    assert db.scalars(select(Submission)).one().email == "maria@gmial.con"
    assert db.scalars(select(Prospect)).one().email == "maria@gmial.con"
