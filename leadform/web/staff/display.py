"""How staff pages show times, durations, phone numbers and terms (Jinja filters too)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote
from zoneinfo import ZoneInfo

import phonenumbers

from ...context import settings
from ...core.intake.validation import start_term_label

__all__ = [
    "duration",
    "phone_display",
    "staff_time",
    "staff_time_iso",
    "staff_tz",
    "staff_tz_label",
    "start_term_label",
]


def staff_tz() -> ZoneInfo:
    """The time zone staff read and type times in (config STAFF_TIMEZONE)."""
    return settings().staff_tz


def staff_time(value: dt.datetime | None, with_zone: bool = True) -> str:
    """A UTC moment as staff read it: "Mar 1, 2026 2:30 PM EST" in the staff time zone."""
    if value is None:
        return ""
    local = value.astimezone(staff_tz())
    hour = local.hour % 12 or 12
    text = f"{local:%b} {local.day}, {local.year} {hour}:{local:%M} {local:%p}"
    return f"{text} {local:%Z}" if with_zone else text


def mailto_href(email: str) -> str:
    """A mailto: link to exactly this address.

    A local part may hold "?", "&", "=" and "%" ("x?bcc=a%40evil.example&subject=hi@..." is a
    valid address): left as they are, a mail client would read a Bcc or a subject from them.
    Everything but the "@" is percent-encoded, so the address is all the link says.
    """
    return "mailto:" + quote(email, safe="@")


def tel_href(phone: str) -> str:
    """A tel: link to this number (stored as E.164; anything else is percent-encoded)."""
    return "tel:" + quote(phone, safe="+")


def duration(minutes: int) -> str:
    """Minutes as "12 min", "3 h 5 min" or "2 d 4 h"."""
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def staff_time_iso(value: str) -> str:
    """A stored ISO timestamp (timeline data) as staff read it."""
    try:
        return staff_time(dt.datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return value


def staff_tz_label() -> str:
    """The staff time zone as a short label: "Indianapolis (EST)"."""
    tz = staff_tz()
    city = str(tz.key).rsplit("/", 1)[-1].replace("_", " ")
    return f"{city} ({dt.datetime.now(tz):%Z})"


def phone_display(number: str | None, country: str | None = None) -> str:
    """A phone number as staff read it everywhere: national for the staff's own country
    (settings.default_country), international for any other, "+44 20 7946 0958".

    `number` is E.164 (a lead's) or as typed (a held request's, read in `country`, else in
    the default country); a number that does not parse as a valid one is shown as typed.
    """
    if not number:
        return ""
    home = settings().default_country
    region = country if country and len(country) == 2 and country.isalpha() else home
    try:
        parsed = phonenumbers.parse(number, region.upper())
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_valid_number(parsed):
        return number
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(parsed) == home
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(parsed, style)
