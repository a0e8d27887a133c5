"""Every field rule of the request-info form: the pure functions, then the form over HTTP."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from factories import PROGRAM, count, form_token, valid_form
from sqlalchemy import select

from leadform.core.intake import validation as v
from leadform.models import Lead, Prospect, Submission

SPECIAL = "Remove the special or invisible characters"


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("Maria", "Maria"),
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoe\u0308"),  # e + combining diaeresis
        ("José María", "José María"),
        ("O'Neil", "O'Neil"),
        ("D’Angelo", "D’Angelo"),
        ("Anne-Marie", "Anne-Marie"),
        ("J. R.", "J. R."),
        ("Nguyễn Thị Minh", "Nguyễn Thị Minh"),
        ("Łukasz", "Łukasz"),
        ("Ελένη", "Ελένη"),
        ("Алексей", "Алексей"),
        ("李小龙", "李小龙"),
        ("محمد", "محمد"),
        ("שרה", "שרה"),
        ("زهرا\u200cسادات", "زهرا\u200cسادات"),  # Persian, with a zero-width non-joiner
        ("क्\u200dष", "क्\u200dष"),  # Devanagari, with a zero-width joiner
        ("  Maria   José  ", "Maria José"),
        ("M", "M"),
        ("a" * 100, "a" * 100),
    ],
)
def test_name_accepts_letters_of_any_script_and_name_punctuation(value, stored):
    assert v.clean_name(value, "First name") == stored


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter your first name."),
        ("   ", "Enter your first name."),
        ("---", "Enter your first name."),
        ("a" * 101, "Use 100 characters or fewer."),
        ("Maria2", "Use letters, spaces, hyphens, apostrophes and periods"),
        ("Maria!", "Use letters, spaces, hyphens, apostrophes and periods"),
        ("Ma_ria", "Use letters, spaces, hyphens, apostrophes and periods"),
        ("=1+2", "Use letters, spaces, hyphens, apostrophes and periods"),
        ("Ma\u200bria", SPECIAL),  # zero-width space: invisible, so say so
        ("Ma\ufeffria", SPECIAL),  # zero-width no-break space (byte order mark)
        ("\u200dMaria", SPECIAL),  # a joiner joins letters, or it is just invisible
        ("Maria\u200c", SPECIAL),
        ("Ma\u200c\u200cria", SPECIAL),
        ("Maria 😀", "Use letters, spaces, hyphens, apostrophes and periods"),
        ("Ma\x00ria", SPECIAL),
        ("Ma\x07ria", SPECIAL),
        ("Ma\tria", SPECIAL),
        ("Ma\nria", SPECIAL),
        ("Ma\x1fria", SPECIAL),  # str.split() would take this for a space
        ("Ma\x85ria", SPECIAL),  # NEL, also "whitespace" to str.split()
        ("Ma\u202eria", SPECIAL),  # right-to-left override
        ("Ma\u2066ria", SPECIAL),  # left-to-right isolate
    ],
)
def test_name_rejections_say_what_to_fix(value, message):
    with pytest.raises(v.FieldError, match=re.escape(message)):
        v.clean_name(value, "First name")


# --- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored", "key"),
    [
        ("maria@example.com", "maria@example.com", "maria@example.com"),
        ("Maria.Gomez@Example.COM", "Maria.Gomez@example.com", "maria.gomez@example.com"),
        ("josé@exämple.com", "josé@exämple.com", "josé@exämple.com"),
        ("x@xn--bcher-kva.com", "x@bücher.com", "x@bücher.com"),
        ("first+tag@sub.example.org", "first+tag@sub.example.org", "first+tag@sub.example.org"),
    ],
)
def test_email_is_normalized_and_keyed_case_insensitively(value, stored, key):
    assert v.clean_email(value) == (stored, key)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Enter your email address."),
        ("maria", "Enter a valid email address"),
        ("maria@", "Enter a valid email address"),
        ("@example.com", "Enter a valid email address"),
        ("maria@example", "Enter a valid email address"),
        ("maria@@example.com", "Enter a valid email address"),
        ("ma ria@example.com", "Enter a valid email address"),
        ("<maria@example.com>", "Enter a valid email address"),
        ("a@" + "b" * 250 + ".com", "Use 254 characters or fewer."),
        ("ma\x00ria@example.com", SPECIAL),
        ("maria@example.com\x07", SPECIAL),
        ("maria\u202e@example.com", SPECIAL),
    ],
)
def test_email_rejections(value, message):
    with pytest.raises(v.FieldError, match=re.escape(message)):
        v.clean_email(value)


def test_email_messages_are_ours_not_the_librarys():
    with pytest.raises(v.FieldError) as caught:
        v.clean_email("maria@@example.com")
    assert str(caught.value) == "Enter a valid email address, like name@example.com."


def test_an_address_whose_domain_takes_no_mail_is_called_a_likely_typo(monkeypatch):
    from email_validator import EmailUndeliverableError

    def undeliverable(*_args, **_kwargs):
        raise EmailUndeliverableError("The domain name example.con does not exist.")

    monkeypatch.setattr(v, "validate_email", undeliverable)
    with pytest.raises(v.FieldError, match="We can't send email to that address"):
        v.clean_email("maria@example.con", check_deliverability=True)


def test_email_whose_normalized_key_outgrows_the_column_is_refused():
    # "ß" casefolds to "ss": the key would be far longer than the address typed.
    domain = ".".join(["d" * 60, "e" * 60, "f" * 60]) + ".com"
    address = "ß" * 64 + "@" + domain
    try:
        stored, key = v.clean_email(address)
    except v.FieldError:
        return  # refused: fine
    assert len(stored) <= 254
    assert len(key) <= 254


# --- phone ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "e164"),
    [
        ("(317) 555-0123", "US", "+13175550123"),
        ("317.555.0123", "US", "+13175550123"),
        ("+1 317 555 0123", "GB", "+13175550123"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("07911 123456", "GB", "+447911123456"),
        ("+44 20 7946 0018", "US", "+442079460018"),
        ("030 1234567", "DE", "+49301234567"),
        ("(317) 555-0123", None, "+13175550123"),  # no country: the US
        ("", "US", None),
    ],
)
def test_phone_is_stored_e164_with_the_country_as_default_region(value, country, e164):
    assert v.clean_phone(value, country) == e164


@pytest.mark.parametrize(
    ("value", "country", "message"),
    [
        ("not a phone", "US", "Enter a phone number we can call"),
        ("12345", "US", "Enter a phone number we can call"),
        ("020 7946 0018", "US", "Enter a phone number we can call"),  # a UK number, US chosen
        ("+1 317 555 0123 4567 8901", "US", "Enter a phone number we can call"),
        ("1" * 33, "US", "Use 32 characters or fewer."),
        ("317\x00555\x000123", "US", SPECIAL),
        ("(317) 555-0123", "ZZ", "Enter a phone number we can call"),
    ],
)
def test_phone_rejections(value, country, message):
    with pytest.raises(v.FieldError, match=re.escape(message)):
        v.clean_phone(value, country)


# --- postal code ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "country", "stored"),
    [
        ("46204", "US", "46204"),
        ("46204-1234", "US", "46204-1234"),
        ("462041234", "US", "46204-1234"),
        ("46204 1234", "US", "46204-1234"),
        ("46204", None, "46204"),
        ("", "US", None),
        ("SW1A 1AA", "GB", "SW1A 1AA"),
        ("k1a 0b1", "CA", "K1A 0B1"),
        ("10115", "DE", "10115"),
    ],
)
def test_postal_code_rules(value, country, stored):
    assert v.clean_postal_code(value, country) == stored


@pytest.mark.parametrize(
    ("value", "country", "message"),
    [
        ("4620", "US", "Enter a 5-digit ZIP code"),
        ("462045", "US", "Enter a 5-digit ZIP code"),
        ("46204-12", "US", "Enter a 5-digit ZIP code"),
        ("ABCDE", "US", "Enter a 5-digit ZIP code"),
        ("SW1A 1AA", "US", "Enter a 5-digit ZIP code"),
        ("٤٦٢٠٤", "US", "Enter a 5-digit ZIP code"),  # Arabic-Indic digits are not a ZIP
        ("SW1A@1AA", "GB", "Enter a postal code of letters, digits, spaces or hyphens."),
        ("-SW1A", "GB", "Enter a postal code of letters, digits, spaces or hyphens."),
        ("A" * 13, "GB", "Use 12 characters or fewer."),
        ("462\x0004", "US", SPECIAL),
    ],
)
def test_postal_code_rejections(value, country, message):
    with pytest.raises(v.FieldError, match=re.escape(message)):
        v.clean_postal_code(value, country)


# --- lists ---------------------------------------------------------------------------------


def test_start_terms_are_upcoming_and_end_with_not_sure():
    terms = v.start_terms(dt.date(2026, 11, 27))
    assert [value for value, _ in terms] == [
        "2027-winter",
        "2027-spring",
        "2027-summer",
        "2027-fall",
        "2028-winter",
        "2028-spring",
        "undecided",
    ]
    assert terms[0][1] == "Winter 2027"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("undecided", True),
        ("2027-spring", True),
        ("2028-spring", True),  # the last term the list offers
        ("2028-summer", False),  # never offered
        ("2028-fall", False),
        ("2026-fall", False),  # already started
        ("2035-fall", False),
        ("2027-autumn", False),
        ("", False),
    ],
)
def test_valid_start_term(value, valid):
    assert v.valid_start_term(value, dt.date(2026, 11, 27)) is valid


def test_a_term_offered_yesterday_is_accepted_the_day_it_starts():
    # Served on 28 February with Spring 2027 (March) in the list, sent on 1 March.
    assert v.valid_start_term("2027-spring", dt.date(2027, 2, 28))
    assert v.valid_start_term("2027-spring", dt.date(2027, 3, 1))
    assert not v.valid_start_term("2027-spring", dt.date(2027, 3, 1), grace_days=0)
    assert not v.valid_start_term("2027-spring", dt.date(2027, 3, 3))


def test_country_list_starts_with_the_us_and_has_every_country():
    codes = [code for code, _ in v.country_choices()]
    assert codes[0] == "US"
    assert {"GB", "CA", "MX", "DE", "IN", "PH"} <= set(codes)
    assert len(codes) == len(set(codes)) > 240


# --- the form over HTTP --------------------------------------------------------------------

NEXT_TERM = v.start_terms()[0][0]


@pytest.fixture
def post(app, client):
    """POST the form with a freshly signed token, as a browser that loaded it would."""

    def do(data):
        return client.post("/request-info", data={"form_token": form_token(app), **data})

    return do


def field_error(response, field: str) -> str:
    """The message shown next to a field ("" when there is none)."""
    page = html.unescape(response.get_data(as_text=True))
    found = re.search(rf'id="{field}-error">(.*?)</div>', page, flags=re.S)
    if not found:
        return ""
    text = re.sub(r"<[^>]+>", "", found.group(1)).strip()
    return text.removeprefix("Error:").strip()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"first_name": ""}, "first_name", "Enter your first name."),
        ({"first_name": None}, "first_name", "Enter your first name."),
        ({"last_name": "   "}, "last_name", "Enter your last name."),
        ({"first_name": "Maria3"}, "first_name", "Use letters, spaces, hyphens"),
        ({"last_name": "Gómez!"}, "last_name", "Use letters, spaces, hyphens"),
        ({"first_name": "a" * 101}, "first_name", "Use 100 characters or fewer."),
        ({"last_name": "b" * 101}, "last_name", "Use 100 characters or fewer."),
        ({"email": ""}, "email", "Enter your email address."),
        ({"email": "maria@example"}, "email", "Enter a valid email address"),
        ({"email": "a" * 250 + "@example.com"}, "email", "Use 254 characters or fewer."),
        ({"phone": "call me"}, "phone", "Enter a phone number we can call"),
        ({"phone": "020 7946 0018"}, "phone", "Enter a phone number we can call"),
        ({"phone": "1" * 33}, "phone", "Use 32 characters or fewer."),
        ({"postal_code": "4620"}, "postal_code", "Enter a 5-digit ZIP code"),
        ({"postal_code": "SW1A 1AA"}, "postal_code", "Enter a 5-digit ZIP code"),
        ({"postal_code": "1" * 13}, "postal_code", "Use 12 characters or fewer."),
        (
            {"country": "GB", "phone": "", "postal_code": "SW1A_1AA"},
            "postal_code",
            "Enter a postal code of letters",
        ),
        ({"country": "XX"}, "country", "Choose a country from the list."),
        ({"country": "us"}, "country", "Choose a country from the list."),
        ({"country": "USA"}, "country", "Use 2 characters or fewer."),
        ({"program": ""}, "program", "Choose the program you're interested in."),
        ({"program": None}, "program", "Choose the program you're interested in."),
        ({"program": "no-such-program"}, "program", "Choose a program from the list."),
        ({"start_term": "1999-fall"}, "start_term", "Choose a start term from the list."),
        ({"start_term": "x" * 21}, "start_term", "Use 20 characters or fewer."),
        ({"education_level": "phd"}, "education_level", "Choose one from the list."),
        ({"education_level": "x" * 31}, "education_level", "Use 30 characters or fewer."),
        ({"military": "pirate"}, "military", "Choose one from the list."),
        ({"military": "x" * 31}, "military", "Use 30 characters or fewer."),
        ({"comments": "x" * 2001}, "comments", "Use 2000 characters or fewer."),
        ({"consent": None}, "consent", "Check this box so we may contact you"),
        ({"consent": "off"}, "consent", "Check this box so we may contact you"),
    ],
)
def test_invalid_field_is_refused_with_its_message(post, db, overrides, field, message):
    response = post(valid_form(**overrides))
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert f'href="#{field}"' in response.get_data(as_text=True)  # linked from the summary
    assert count(db, Submission) == 0


@pytest.mark.parametrize(
    "field", ["first_name", "last_name", "email", "phone", "postal_code", "comments"]
)
def test_control_characters_are_refused_not_stored(post, db, field):
    value = valid_form()[field]
    for char in ("\x00", "\x1b", "\x7f", "\u202e"):
        response = post(valid_form(**{field: value[:3] + char + value[3:]}))
        assert response.status_code == 422, repr(char)
        assert SPECIAL in field_error(response, field), repr(char)
    assert count(db, Submission) == 0


@pytest.mark.parametrize(
    "field", ["first_name", "last_name", "email", "phone", "postal_code", "comments"]
)
@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x1f", "\x85"])
def test_control_characters_at_either_end_are_refused_not_trimmed(post, db, field, char):
    # str.strip() counts these as whitespace; the form's trimming must not hide them.
    value = valid_form()[field]
    for sent in (char + value, value + char):
        response = post(valid_form(**{field: sent}))
        assert response.status_code == 422, repr(sent)
        assert SPECIAL in field_error(response, field), repr(sent)
    assert count(db, Submission) == 0


def test_surrounding_spaces_are_trimmed_no_break_space_included(submit, db):
    response = submit(valid_form(first_name="\u00a0 Maria\t", last_name="Gómez\u2003"))
    assert response.status_code == 303
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.first_name, prospect.last_name) == ("Maria", "Gómez")


def test_a_name_typed_with_runs_of_spaces_is_capped_as_typed(post, db):
    # Evidence keeps the name as typed, so the cap applies before spaces are collapsed.
    response = post(valid_form(first_name="Ana" + " " * 120 + "Lu"))
    assert response.status_code == 422
    assert "Use 100 characters or fewer." in field_error(response, "first_name")


def test_control_characters_in_choices_are_refused(post, db):
    for field in ("country", "start_term", "education_level", "military", "program"):
        response = post(valid_form(**{field: "x\x00"}))
        assert response.status_code == 422, field
        assert field_error(response, field), field
    assert count(db, Submission) == 0


def test_comments_keep_line_breaks(submit, db):
    assert submit(valid_form(comments="Line one\r\nLine two\n\tindented")).status_code == 303
    assert db.scalars(select(Submission)).one().comments == "Line one\r\nLine two\n\tindented"


def test_longest_allowed_values_are_accepted(submit, db):
    response = submit(valid_form(first_name="a" * 100, last_name="b" * 100, comments="c" * 2000))
    assert response.status_code == 303
    prospect = db.scalars(select(Prospect)).one()
    assert (len(prospect.first_name), len(prospect.last_name)) == (100, 100)


def test_uk_details_are_stored_normalized(submit, db):
    response = submit(valid_form(country="GB", phone="020 7946 0018", postal_code="sw1a 1aa"))
    assert response.status_code == 303
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.phone, prospect.postal_code, prospect.country) == (
        "+442079460018",
        "SW1A 1AA",
        "GB",
    )
    submission = db.scalars(select(Submission)).one()
    assert (submission.phone, submission.phone_e164) == ("020 7946 0018", "+442079460018")


def test_zip_plus_four_is_stored_with_a_hyphen(submit, db):
    assert submit(valid_form(postal_code="462041234")).status_code == 303
    assert db.scalars(select(Prospect)).one().postal_code == "46204-1234"


def test_the_submission_keeps_what_was_sent_the_prospect_what_it_means(submit, db):
    # DESIGN invariant 3: the evidence is what was submitted (surrounding spaces aside).
    sent = valid_form(
        first_name="  Maria   Luisa ",
        last_name="O'Neil-Gómez",
        email=" Maria@EXAMPLE.COM ",
        postal_code="46204 1234",
        phone="317.555.0123",
    )
    assert submit(sent).status_code == 303
    submission = db.scalars(select(Submission)).one()
    assert (
        submission.first_name,
        submission.email,
        submission.postal_code,
        submission.phone,
        submission.country,
    ) == ("Maria   Luisa", "Maria@EXAMPLE.COM", "46204 1234", "317.555.0123", "US")
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.first_name, prospect.email, prospect.postal_code, prospect.phone) == (
        "Maria Luisa",
        "Maria@example.com",
        "46204-1234",
        "+13175550123",
    )
    assert prospect.email_normalized == "maria@example.com"


def test_optional_fields_may_be_left_empty(submit, db):
    response = submit(
        valid_form(
            phone="",
            postal_code="",
            start_term="",
            education_level="",
            military="",
            comments="",
        )
    )
    assert response.status_code == 303
    prospect = db.scalars(select(Prospect)).one()
    assert (prospect.phone, prospect.postal_code) == (None, None)


def test_inactive_program_is_refused(post, client, db, make_program):
    make_program("retired-program", name="Retired Program", active=False)
    response = post(valid_form(program="retired-program"))
    assert response.status_code == 422
    assert field_error(response, "program") == "Choose a program from the list."
    assert count(db, Submission) == 0
    assert client.get("/programs/retired-program").status_code == 404
    assert "Retired Program" not in client.get("/").get_data(as_text=True)


def test_new_active_program_is_accepted(submit, db, make_program):
    make_program("new-program", name="New Program")
    assert submit(valid_form(program="new-program")).status_code == 303
    assert db.scalars(select(Submission)).one().program_slug == "new-program"


def test_every_value_is_kept_on_error(submit, db):
    data = valid_form(
        email="not-an-email",
        first_name="Zoë",
        last_name="O'Neil-Gómez",
        phone="020 7946 0018",
        country="GB",
        postal_code="SW1A 1AA",
        program="master-health-informatics",
        start_term=NEXT_TERM,
        education_level="associate",
        military="veteran",
        comments='Evenings only? <b>"quotes"</b> & more',
        sms_opt_in="y",
        utm_source="newsletter",
    )
    response = submit(data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    text = html.unescape(page)
    for name in ("email", "first_name", "last_name", "phone", "postal_code"):
        assert f'value="{data[name]}"' in text, name
    for name in ("country", "program", "start_term", "education_level", "military"):
        select_html = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S).group(0)
        assert f'<option selected value="{data[name]}">' in select_html, name
    assert "Evenings only? &lt;b&gt;&#34;quotes&#34;&lt;/b&gt; &amp; more</textarea>" in page
    for box in ("consent", "sms_opt_in"):
        tag = re.search(rf'<input[^>]*name="{box}"[^>]*>', page).group(0)
        assert "checked" in tag, box
    assert re.search(r'<input[^>]*name="utm_source"[^>]*value="newsletter"', page)
    assert count(db, Submission) == 0


def test_form_is_never_served_with_consent_checked(client):
    page = client.get(f"/programs/{PROGRAM}").get_data(as_text=True)
    tag = re.search(r'<input[^>]*name="consent"[^>]*>', page).group(0)
    assert "checked" not in tag


def test_attribution_is_cleaned_and_capped_never_refused(post, db):
    # UTM values come from links, not from the person: they are trimmed, never an error.
    response = post(valid_form(utm_source="news\x00letter" + "x" * 5000, utm_campaign="\u202efall"))
    assert response.status_code == 303
    submission = db.scalars(select(Submission)).one()
    assert submission.utm_source == ("newsletter" + "x" * 5000)[:200]
    assert submission.utm_campaign == "fall"
    assert db.scalars(select(Lead)).one().utm_source == submission.utm_source
