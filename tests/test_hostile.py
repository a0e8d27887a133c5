"""Hostile input: whatever is sent, never a 5xx and never an invalid row in the database.

A corpus of a few hundred hand-picked cases, then Hypothesis. TESTING mode lets exceptions
propagate, so a bug surfaces here as an exception rather than as a 500 page.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import pytest
from factories import PG_URL, PROGRAM, form_token, valid_form
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict

from leadform import create_app
from leadform.context import get_engine, get_session
from leadform.core.intake import validation as v
from leadform.core.intake.inquiry import SMS_OPT_IN_TEXT, UTM_FIELDS
from leadform.core.programs import load_catalog, read_catalog
from leadform.db import Base
from leadform.models import Lead, Program, Prospect, Submission

# --- one app for the whole module: a few hundred requests, no schema rebuild for each ------


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory, _pg_schema) -> Iterator[Flask]:
    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('hostile')}/hostile.db"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "hostile-input-secret-key-long-enough-0123456789",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "MIN_FORM_SECONDS": 0,
        }
    )
    with app.app_context():
        if not PG_URL:
            Base.metadata.create_all(get_engine())
        session = get_session()
        load_catalog(session, read_catalog())
        session.add(Program(slug="retired-program", name="Retired", level="master", active=False))
        session.commit()
    yield app
    with app.app_context():
        if PG_URL:
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            with get_engine().begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        get_engine().dispose()


class Checker:
    """Sends requests and checks every row stored since the last check."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.seen_submission = 0

    def check_new_rows(self) -> None:
        with self.app.app_context():
            session = get_session()
            new = list(
                session.scalars(
                    select(Submission)
                    .where(Submission.id > self.seen_submission)
                    .order_by(Submission.id)
                )
            )
            prospect_ids = set()
            for submission in new:
                assert_valid_submission(session, submission)
                if submission.prospect_id is not None:
                    prospect_ids.add(submission.prospect_id)
                self.seen_submission = submission.id
            for prospect_id in prospect_ids:
                assert_valid_prospect(session.get(Prospect, prospect_id))


@pytest.fixture(scope="module")
def checker(hostile_app) -> Checker:
    return Checker(hostile_app)


def assert_clean(value: str, *, max_length: int) -> None:
    assert not v.bad_characters(value), repr(value)
    assert len(value) <= max_length, len(value)


def assert_valid_submission(session, s: Submission) -> None:
    """A stored submission re-validates to itself; a quarantined one touches no person."""
    for name in (*UTM_FIELDS, "user_agent", "page_url", "referrer", "ip"):
        assert "\x00" not in getattr(s, name), name
    if s.spam_verdict == "quarantined":
        assert (s.lead_id, s.prospect_id) == (None, None)
        return
    assert s.spam_verdict == "ok"
    assert s.consent is True
    assert v.clean_name(s.first_name, "First name") == s.first_name
    assert v.clean_name(s.last_name, "Last name") == s.last_name
    assert v.clean_email(s.email)[0] == s.email
    country = s.country or None
    if s.country:
        assert s.country in dict(v.country_choices())
    assert_clean(s.phone, max_length=v.MAX_LENGTHS["phone"])
    assert v.clean_phone(s.phone, country) == s.phone_e164
    if s.postal_code:  # stored as sent ("k1a0b1"): valid, and its cleaned form is stable
        cleaned = v.clean_postal_code(s.postal_code, country)
        assert v.clean_postal_code(cleaned, country) == cleaned
    if s.sms_opt_in:  # texts only to a number, and with the wording ticked
        assert s.phone_e164
        assert s.sms_opt_in_text == SMS_OPT_IN_TEXT
    if s.start_term:
        assert v.valid_start_term(s.start_term)
    assert s.education_level in ("", *dict(v.EDUCATION_LEVELS))
    assert s.military in ("", *dict(v.MILITARY_AFFILIATIONS))
    assert v.check_text(s.comments, max_length=2000, multiline=True) == s.comments
    for name in (*UTM_FIELDS, "user_agent", "page_url", "referrer", "ip"):
        assert_clean(getattr(s, name), max_length=2048)
    lead = session.get(Lead, s.lead_id)
    assert lead.prospect_id == s.prospect_id
    program = session.get(Program, lead.program_id)
    assert program.active
    assert program.slug == s.program_slug


def assert_valid_prospect(p: Prospect) -> None:
    """The person's current details are all valid and normalized."""
    assert v.clean_name(p.first_name, "First name") == p.first_name
    assert v.clean_name(p.last_name, "Last name") == p.last_name
    address, key = v.clean_email(p.email)
    assert (address, key) == (p.email, p.email_normalized)
    assert len(p.email_normalized) <= 254
    if p.country:
        assert p.country in dict(v.country_choices())
    if p.phone is not None:
        number = phonenumbers.parse(p.phone, None)
        assert phonenumbers.is_valid_number(number)
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == p.phone
    if p.postal_code is not None:
        # The postal code was checked against the country given with it.
        assert_clean(p.postal_code, max_length=12)
        assert p.postal_code == p.postal_code.upper()


# --- the corpus ----------------------------------------------------------------------------

HOSTILE_VALUES: list[str] = [
    "",
    " ",
    "\x00",
    "Ma\x00ria",
    "\x01\x02\x03",
    "\x1b[31mred\x1b[0m",
    "\x7f",
    "\x1f",
    "\x85",
    "\r\n",
    "line\nbreak",
    "tab\there",
    "\u202eevil\u202c",
    "\u2066isolate\u2069",
    "\u200b",
    "\ufeffbom",
    "\ue000",  # private use
    "\uffff",  # noncharacter
    "\U0010fffd",
    "😀",
    "👩‍👩‍👧‍👦",
    "Zoë 🎓",
    "مرحبا بالعالم",
    "שלום עולם",
    "中文名字",
    "e" + "\u0301" * 60,
    "Ａｎｎａ",  # fullwidth
    "A" * 101,
    "A" * 10_000,
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg/onload=alert(1)>',
    "'; DROP TABLE prospects; --",
    "' OR '1'='1",
    "1; SELECT pg_sleep(10)",
    "%' OR 1=1 --",
    "\\",
    "\\x00",
    '=HYPERLINK("http://evil.example","Click")',
    "=1+2",
    "+1+2",
    "-1+2",
    "@SUM(A1)",
    "\t=cmd|' /C calc'!A0",
    "{{7*7}}",
    "${7*7}",
    "%s%s%n",
    "../../etc/passwd",
    "null",
    "true",
    "-1",
    "1e309",
    "NaN",
    "[]",
    "{}",
]
# A shorter list for the fields where fewer things can go wrong.
NASTY = [
    "",
    "\x00",
    "a\x1fb",
    "\u202eUS",
    "😀",
    "A" * 5000,
    "<script>x</script>",
    "=1+2",
]
FIELDS_NASTY = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "postal_code",
    "country",
    "program",
    "start_term",
    "education_level",
    "military",
    "comments",
    "consent",
    "sms_opt_in",
    "utm_source",
    "website",
    "form_token",
)


@dataclass
class Case:
    """One hostile request."""

    id: str
    data: Any = None  # dict, MultiDict, bytes, or None for valid_form()
    token: bool = True  # add a freshly signed form token
    method: str = "POST"
    path: str = "/request-info"
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


def corpus() -> list[Case]:
    cases: list[Case] = []
    for i, value in enumerate(HOSTILE_VALUES):
        everywhere = {name: value for name in valid_form() if name != "consent"}
        cases.append(Case(f"all-fields-{i}", valid_form(**everywhere)))
    for name in FIELDS_NASTY:
        for i, value in enumerate(NASTY):
            cases.append(Case(f"{name}-nasty-{i}", valid_form(**{name: value})))
    for name in valid_form():
        cases.append(Case(f"missing-{name}", valid_form(**{name: None})))

    good = valid_form()
    cases += [
        Case("empty-body", {}),
        Case("token-only", {}, token=True),
        Case("no-token", token=False),
        Case("json-body", json.dumps(good).encode(), content_type="application/json"),
        Case("text-body", b"first_name=Maria", content_type="text/plain"),
        Case(
            "bad-utf8-percent",
            b"first_name=%FF%FE%00&last_name=%C3%28&email=a%40example.com&consent=y",
            content_type="application/x-www-form-urlencoded",
        ),
        Case(
            "bad-utf8-raw",
            b"first_name=\xff\xfe&last_name=\xc3\x28&consent=y",
            content_type="application/x-www-form-urlencoded",
        ),
        Case(
            "latin1-charset",
            "first_name=Zo\xeb&consent=y".encode("latin-1"),
            content_type="application/x-www-form-urlencoded; charset=latin-1",
        ),
        Case("bogus-content-type", b"\x00\x01\x02", content_type="application/x-evil"),
        Case(
            "multipart-bad-boundary",
            b"--x\r\nContent-Disposition: form-data; name=first_name\r\n\r\nMaria",
            content_type="multipart/form-data; boundary=y",
        ),
        Case("file-as-name", {**good, "first_name": (io.BytesIO(b"Maria"), "name.txt")}),
        Case("file-as-token", {**good, "form_token": (io.BytesIO(b"abc"), "t.txt")}, token=False),
        Case("bracket-names", {f"{k}[]": val for k, val in good.items()}),
        Case("indexed-names", {f"{k}[0]": val for k, val in good.items()}),
        Case("many-fields", {**good, **{f"x{i}": "y" for i in range(900)}}),
        Case("long-field-name", {**good, "a" * 10_000: "b"}),
        Case("unicode-field-name", {**good, "prénom\x00": "x"}),
        Case(
            "query-string-values",
            {},
            path="/request-info?" + "&".join(f"{k}={val}" for k, val in good.items()),
        ),
        Case("method-put", method="PUT"),
        Case("method-patch", method="PATCH"),
        Case("method-delete", method="DELETE"),
        Case(
            "get-hostile-query",
            method="GET",
            token=False,
            path="/request-info?program=%3Cscript%3E&utm_source=%00%1B" + "x" * 3000,
        ),
        Case("get-program-slug-sql", method="GET", token=False, path="/programs/'%20OR%201=1--"),
        Case("get-program-slug-nul", method="GET", token=False, path="/programs/%00"),
        Case("get-program-param-nul", method="GET", token=False, path="/request-info?program=%00"),
        Case("get-program-slug-long", method="GET", token=False, path="/programs/" + "a" * 5000),
        Case(
            "get-thanks-with-data",
            method="GET",
            token=False,
            path="/request-info/thanks?email=a@example.com",
        ),
    ]
    duplicated = [
        ("email", ["maria@example.com", "eve@example.com"]),
        ("email", ["not-an-email", "maria@example.com"]),
        ("program", ["retired-program", PROGRAM]),
        ("program", [PROGRAM, "master-health-informatics"]),
        ("consent", ["", "y"]),
        ("consent", ["y", ""]),
        ("first_name", ["Maria", "<script>x</script>"]),
        ("first_name", ["http://spam.example", "Maria"]),
        ("website", ["", "http://spam.example"]),
        ("country", ["GB", "US"]),
        ("phone", ["020 7946 0018", "(317) 555-0123"]),
        ("comments", ["a" * 2000, "b" * 2000]),
    ]
    for i, (name, values) in enumerate(duplicated):
        pairs = [(k, val) for k, val in good.items() if k != name]
        pairs += [(name, value) for value in values]
        cases.append(Case(f"duplicated-{name}-{i}", MultiDict(pairs)))
    cases.append(Case("every-field-twice", MultiDict([*good.items(), *good.items()])))
    cases.append(
        Case(
            "token-twice-garbage-first",
            MultiDict([("form_token", "garbage"), *good.items()]),
            token=True,
        )
    )
    header_cases = {
        "ua-nul": {"User-Agent": "Mozilla\x00/5.0"},
        "ua-control": {"User-Agent": "\x1b[2J\x07bell"},
        "ua-long": {"User-Agent": "U" * 8000},
        "ua-unicode": {"User-Agent": "Bröwser 😀 \u202e"},
        "referer-js": {"Referer": "javascript:alert(1)"},
        "referer-nul": {"Referer": "http://localhost/\x00\x01"},
        "referer-long": {"Referer": "http://localhost/" + "r" * 5000},
        "xff-garbage": {"X-Forwarded-For": "<script>, \x00, ' OR 1=1"},
        "accept-json": {"Accept": "application/json"},
        "host-odd": {"Host": "evil.example"},
    }
    for name, headers in header_cases.items():
        cases.append(Case(f"header-{name}", headers=headers))
    return cases


CORPUS = corpus()


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 200
    assert len({case.id for case in CORPUS}) == len(CORPUS)


def send(checker: Checker, case: Case):
    data = valid_form() if case.data is None else case.data
    if case.token and isinstance(data, dict | MultiDict):
        data = MultiDict(data) if isinstance(data, MultiDict) else dict(data)
        if isinstance(data, MultiDict):
            data.add("form_token", form_token(checker.app))
        else:
            data["form_token"] = form_token(checker.app)
    kwargs: dict[str, Any] = {"headers": case.headers}
    if case.method != "GET":
        kwargs["data"] = data
    if case.content_type:
        kwargs["content_type"] = case.content_type
    return checker.client.open(case.path, method=case.method, **kwargs)


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_hostile_input_never_errors_and_never_stores_invalid_rows(checker, case):
    response = send(checker, case)
    assert response.status_code < 500, response.status_code
    assert response.status_code in (200, 303, 400, 404, 405, 413, 422), response.status_code
    if response.status_code == 303:
        assert response.headers["Location"] == "/request-info/thanks"
    checker.check_new_rows()


# --- Hypothesis ----------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=150)


def field_values(good: str, *extra: str) -> st.SearchStrategy[str]:
    """Mostly junk, sometimes the right value, so that some requests are stored."""
    return st.one_of(st.just(good), st.sampled_from([good, *extra]), TEXT)


FORM = st.fixed_dictionaries(
    {},
    optional={
        "first_name": field_values("Maria", "Zoë", "李", "O'Neil"),
        "last_name": field_values("Gómez", "Nguyễn", "D’Angelo"),
        "email": field_values("maria@example.com", "MARIA@example.com", "zoe@example.org"),
        "phone": field_values("(317) 555-0123", "", "+44 20 7946 0018"),
        "postal_code": field_values("46204", "46204-1234", "", "SW1A 1AA", "k1a0b1", "M5V 2T6"),
        "country": field_values("US", "GB", "CA", ""),
        "program": field_values(PROGRAM, "master-health-informatics", "retired-program"),
        "start_term": field_values("undecided", v.start_terms()[0][0], ""),
        "education_level": field_values("high_school", "master", ""),
        "military": field_values("none", "veteran", ""),
        "comments": field_values("", "Evenings?", "=1+2"),
        "consent": field_values("y", "", "on"),
        "sms_opt_in": field_values("y", ""),
        "utm_source": field_values("google", ""),
        "website": st.sampled_from(["", "", "", "x"]),
    },
)


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(form=FORM, duplicate=st.booleans())
def test_hypothesis_forms_never_error_and_store_only_valid_rows(hostile_app, form, duplicate):
    checker = Checker(hostile_app)
    with hostile_app.app_context():
        checker.seen_submission = (
            get_session().scalar(select(Submission.id).order_by(Submission.id.desc()).limit(1)) or 0
        )
    data = MultiDict({**form, "form_token": form_token(hostile_app)})
    if duplicate:
        for name, value in form.items():
            data.add(name, value[::-1])
    response = checker.client.post("/request-info", data=data)
    assert response.status_code in (303, 400, 422), response.status_code
    checker.check_new_rows()
