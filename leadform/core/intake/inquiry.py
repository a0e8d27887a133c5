"""A request for information as the core takes it: parsed once, by one set of rules.

Every door (the program pages' form, the embed form, the JSON API, a spam release, the demo
loader, the tests) turns what it received into an `Inquiry` with `parse_inquiry`, so a
rule is written once. Field names are the public form's (`first_name`, `email`, ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ...db import utcnow
from . import validation as v
from .catalog import ProgramInfo

#: What a checkbox sends when it means "no" (BooleanField false_values on the forms).
CHECKBOX_FALSE_VALUES: tuple[object, ...] = (False, "false", "", "0", "off", "no")


def checked(value: object) -> bool:
    """A form checkbox's value as the form reads it."""
    return value is not None and value not in CHECKBOX_FALSE_VALUES


#: Fields whose cleaned value differs from what was typed (collapsed spaces, normalized
#: email, formatted ZIP): the Submission keeps them as sent (Inquiry.as_submitted).
AS_SUBMITTED_FIELDS = ("first_name", "last_name", "email", "postal_code", "country")


@dataclass(frozen=True)
class Inquiry:
    """A validated, normalized request for information."""

    first_name: str
    last_name: str
    email: str
    email_normalized: str
    program: ProgramInfo
    consent: bool
    phone: str = ""  # as typed
    phone_e164: str | None = None
    postal_code: str | None = None
    country: str | None = None
    start_term: str = ""
    education_level: str = ""
    military: str = ""
    comments: str = ""
    sms_opt_in: bool = False
    #: The text fields as the person sent them (surrounding spaces trimmed), for the
    #: Submission's evidence; the fields above are cleaned for the Prospect. A field
    #: missing here was sent as cleaned (demo data, callers that build an Inquiry directly).
    as_submitted: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """Where and how a submission arrived."""

    channel: str = "form"
    #: The JSON API key the submission came with (its source); None for the forms.
    api_key_id: int | None = None
    ip: str = ""
    user_agent: str = ""
    page_url: str = ""
    referrer: str = ""
    utm: Mapping[str, str] = field(default_factory=dict)
    #: When the person sent it: the Submission keeps this time as evidence.
    received_at: dt.datetime = field(default_factory=utcnow)
    #: When the request became workable, if later than it was received (a spam hold that a
    #: manager released): the lead's clock (its latest request, the queue's age, speed to
    #: lead) runs from then. None: at once, as it was received.
    workable_at: dt.datetime | None = None


UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")

#: Field names in the order they are checked (and listed in an error summary).
FIELDS = (
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
)
CONSENT_REQUIRED = "Check this box so we may contact you about the program."

#: The wording of the separate opt-in to text messages (the required consent covers email
#: and calls only). Every door shows exactly this; a submission that opted in keeps it and
#: its SHA-256 as evidence, so change it here only with care: it is what people agreed to.
SMS_OPT_IN_TEXT = (
    "Text me about my request at the phone number I gave. "
    "Message and data rates may apply. Reply STOP to stop texts."
)
SMS_OPT_IN_SHA256 = hashlib.sha256(SMS_OPT_IN_TEXT.encode("utf-8")).hexdigest()
SMS_NEEDS_PHONE = "Enter a mobile number to get texts, or uncheck “Text me about my request”."


def text_value(value: object) -> str:
    """A submitted value as text with surrounding spaces trimmed (None and non-text: "")."""
    return v.strip_spaces(value) if isinstance(value, str) else ""


def parse_inquiry(
    raw: Mapping[str, Any],
    programs: Mapping[str, ProgramInfo],
    *,
    check_deliverability: bool = False,
    term_grace_days: int = 1,
    today: dt.date | None = None,
) -> Inquiry:
    """Check and clean a submission's fields; raise ValidationFailed naming every bad field.

    `raw` holds the fields by their public names (text, or booleans for the checkboxes);
    `programs` the active programs by slug.
    """
    from ..errors import ValidationFailed

    errors: dict[str, list[str]] = {}
    values = {name: text_value(raw.get(name)) for name in FIELDS if name not in _CHECKBOXES}
    cleaned: dict[str, Any] = {}

    def check(name: str, rule: Any) -> None:
        try:
            cleaned[name] = rule(values[name])
        except v.FieldError as exc:
            errors.setdefault(name, []).append(str(exc))

    country = values["country"]
    check("first_name", lambda s: v.clean_name(s, "First name"))
    check("last_name", lambda s: v.clean_name(s, "Last name"))
    check("email", lambda s: v.clean_email(s, check_deliverability=check_deliverability))
    check("phone", lambda s: v.clean_phone(s, country or None))
    check("postal_code", lambda s: v.clean_postal_code(s, country or None))
    check("country", lambda s: _choice(s, 2, v.country_codes(), "Choose a country from the list."))
    check("program", lambda s: _program(s, programs))
    check("start_term", lambda s: _start_term(s, term_grace_days, today))
    check(
        "education_level",
        lambda s: _choice(s, 30, v.EDUCATION_KEYS, "Choose one from the list."),
    )
    check("military", lambda s: _choice(s, 30, v.MILITARY_KEYS, "Choose one from the list."))
    check("comments", lambda s: v.check_text(s, max_length=2000, multiline=True))
    consent = checked(raw.get("consent"))
    if not consent:
        errors.setdefault("consent", []).append(CONSENT_REQUIRED)
    sms_opt_in = checked(raw.get("sms_opt_in"))
    if sms_opt_in and not values["phone"]:
        # An opt-in to texts with nowhere to send them is no opt-in: ask for the number.
        errors.setdefault("phone", []).append(SMS_NEEDS_PHONE)
    if errors:
        raise ValidationFailed(errors)

    email, email_normalized = cleaned["email"]
    return Inquiry(
        first_name=cleaned["first_name"],
        last_name=cleaned["last_name"],
        email=email,
        email_normalized=email_normalized,
        program=cleaned["program"],
        consent=True,
        phone=values["phone"],
        phone_e164=cleaned["phone"],
        postal_code=cleaned["postal_code"],
        country=country or None,
        start_term=values["start_term"],
        education_level=values["education_level"],
        military=values["military"],
        comments=values["comments"],
        sms_opt_in=sms_opt_in,
        as_submitted={name: values[name] for name in AS_SUBMITTED_FIELDS},
    )


_CHECKBOXES = frozenset({"consent", "sms_opt_in"})


def _choice(value: str, max_length: int, keys: frozenset[str], message: str) -> str:
    v.check_text(value, max_length=max_length)
    if value and value not in keys:
        raise v.FieldError(message)
    return value


def _program(slug: str, programs: Mapping[str, ProgramInfo]) -> ProgramInfo:
    if not slug:
        raise v.FieldError("Choose the program you're interested in.")
    program = programs.get(slug)
    if program is None:
        raise v.FieldError("Choose a program from the list.")
    return program


def _start_term(value: str, grace_days: int, today: dt.date | None) -> str:
    v.check_text(value, max_length=20)
    if value and not v.valid_start_term(value, today, grace_days=grace_days):
        raise v.FieldError("Choose a start term from the list.")
    return value
