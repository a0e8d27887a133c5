"""Field rules shared by the HTML forms and the JSON API: pure functions, no Flask."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email


class FieldError(ValueError):
    """A value a person can fix; the message is shown next to the field."""


# Spaces a person types or pastes: ASCII whitespace and Unicode space separators (Zs, such
# as the no-break space). Not str.strip()'s wider idea of whitespace, which also takes
# control characters (\x0b, \x0c, \x1c-\x1f, \x85) and would remove them before the
# rules can reject them.
_SPACES = " \t\r\n" + "".join(
    chr(c) for c in range(0x80, 0x3001) if unicodedata.category(chr(c)) == "Zs"
)


def strip_spaces(value: str) -> str:
    """Trim surrounding spaces from typed text (control characters stay, to be rejected)."""
    return value.strip(_SPACES)


# Maximum lengths, in characters, of every field a person can send.
MAX_LENGTHS: dict[str, int] = {
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "phone": 32,
    "postal_code": 12,
    "country": 2,
    "program": 80,
    "start_term": 20,
    "education_level": 30,
    "military": 30,
    "comments": 2000,
    "utm_source": 200,
    "utm_medium": 200,
    "utm_campaign": 200,
    "utm_term": 200,
    "utm_content": 200,
    "website": 200,
}

# Bidirectional overrides and isolates can make stored text display as something else.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
_NAME_PUNCTUATION = set(" -'’.")
# Zero-width non-joiner and joiner: part of how Persian and several Indic names are spelled.
_NAME_JOINERS = {"\u200c", "\u200d"}
# Top-level domains that show up in names bots fill in ("cheap-pills.shop"). A person's name
# may hold periods ("J.R.", "St. John") but hardly a two-letter label glued to one of these.
_SPAM_TLDS = (
    # Not the two-letter ones that are also name syllables (co, de, in, me, us...): "Mc.Co".
    "com|net|org|info|biz|xyz|top|io|ru|cn|su|uk|tk|ml|cf|gq|pw|ws"
    "|shop|store|online|site|website|club|live|life|today|world|bet|casino|poker|win|vip|pro"
    "|loan|loans|money|cash|credit|click|link|buzz|icu|app|dev|cloud|fun|space|tech|stream"
)
_SPAM_NAME = re.compile(
    rf"(https?:|www\.|://|[<>{{}}\[\]]|\.com\b|[^\W_]{{2}}\.({_SPAM_TLDS})\b)",
    re.IGNORECASE,
)
# [0-9], not \d: \d also matches other scripts' digits, which no ZIP code uses.
_US_ZIP = re.compile(r"^([0-9]{5})(?:[- ]?([0-9]{4}))?$")
# Canada: A1A 1A1. No D, F, I, O, Q or U anywhere (they read like digits), no W or Z first.
_CA_POSTAL = re.compile(
    r"^([ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z])(?: *|-)([0-9][ABCEGHJ-NPRSTV-Z][0-9])$"
)
_POSTAL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 -]{0,11}$")
#: Where mail goes by USPS ZIP code: the United States and its inhabited territories.
ZIP_CODE_COUNTRIES: frozenset[str] = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})


#: The control characters ASCII text can hold (category Cc: C0 and DEL), with and without
#: the tab and line breaks a multiline field allows.
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bad_characters(value: str, *, multiline: bool = False) -> bool:
    """True when the text holds NUL, control characters or bidi overrides."""
    if value.isascii():
        # Most text is ASCII, where only C0 and DEL can be bad (surrogates, private use,
        # unassigned code points and bidi controls are all outside it): one regex search
        # instead of a category lookup per character.
        pattern = _ASCII_CONTROL_MULTILINE if multiline else _ASCII_CONTROL
        return pattern.search(value) is not None
    for ch in value:
        if multiline and ch in "\n\r\t":
            continue
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            return True
    return False


def check_text(value: str, *, max_length: int, multiline: bool = False) -> str:
    """Reject control characters and overlong text; return the value."""
    if bad_characters(value, multiline=multiline):
        raise FieldError("Remove the special or invisible characters from this field.")
    if len(value) > max_length:
        raise FieldError(f"Use {max_length} characters or fewer.")
    return value


def looks_like_spam_name(value: str) -> bool:
    """True when a name holds a URL, a domain or markup: what bots put there, not people."""
    return bool(_SPAM_NAME.search(value))


def clean_name(value: str, label: str) -> str:
    """Validate a person's name: letters (any script, accents), spaces, - ' ’ and periods."""
    # Before collapsing whitespace: str.split() treats some control characters
    # (\x1c-\x1f, \x85) as spaces and would quietly turn them into blanks. The cap applies
    # to the name as typed too: that is what the submission stores as evidence.
    check_text(value, max_length=MAX_LENGTHS["first_name"])
    value = " ".join(value.split())
    if not value:
        raise FieldError(f"Enter your {label.lower()}.")
    check_text(value, max_length=MAX_LENGTHS["first_name"])
    has_letter = False
    for index, ch in enumerate(value):
        category = unicodedata.category(ch)
        if category.startswith("L"):
            has_letter = True
        elif category == "Cf" and not (ch in _NAME_JOINERS and _joins_letters(value, index)):
            raise FieldError("Remove the special or invisible characters from this field.")
        elif not (category.startswith("M") or ch in _NAME_PUNCTUATION or ch in _NAME_JOINERS):
            raise FieldError(
                f"Use letters, spaces, hyphens, apostrophes and periods in your {label.lower()}."
            )
    if not has_letter:
        raise FieldError(f"Enter your {label.lower()}.")
    return value


def _joins_letters(value: str, index: int) -> bool:
    """True when the joiner at `index` sits between two letters (or combining marks)."""
    if index == 0 or index == len(value) - 1:
        return False
    return all(unicodedata.category(value[i])[0] in "LM" for i in (index - 1, index + 1))


def clean_email(value: str, *, check_deliverability: bool = False) -> tuple[str, str]:
    """Validate an address; return (address as stored, normalized key for dedupe)."""
    if not value:
        raise FieldError("Enter your email address.")
    check_text(value, max_length=MAX_LENGTHS["email"])
    try:
        result = validate_email(value, check_deliverability=check_deliverability)
    except EmailUndeliverableError:
        # The address is well formed but its domain takes no mail: most often a typo.
        raise FieldError(
            "We can't send email to that address. Check the part after the @, like example.com."
        ) from None
    except EmailNotValidError:
        # Not the library's own wording: it speaks of "@-signs" and "dot-atoms".
        raise FieldError("Enter a valid email address, like name@example.com.") from None
    # Mailbox names are case-insensitive in practice; one person, one key.
    address, key = result.normalized, result.normalized.casefold()
    # Normalizing can lengthen an address (NFC, casefold "ß" -> "ss"); the columns hold 254.
    if max(len(address), len(key)) > MAX_LENGTHS["email"]:
        raise FieldError(f"Use {MAX_LENGTHS['email']} characters or fewer.")
    return address, key


def clean_phone(value: str, country: str | None) -> str | None:
    """Parse a phone number in any common format; return E.164, or None when empty."""
    if not value:
        return None
    check_text(value, max_length=MAX_LENGTHS["phone"])
    try:
        number = phonenumbers.parse(value, (country or "US").upper())
    except phonenumbers.NumberParseException:
        raise FieldError("Enter a phone number we can call, like (317) 555-0100.") from None
    if not phonenumbers.is_valid_number(number):
        raise FieldError("Enter a phone number we can call, like (317) 555-0100.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def postal_code_label(country: str | None) -> str:
    """What the postal code field is called for this country: "ZIP code" where USPS delivers."""
    return "ZIP code" if (country or "US").upper() in ZIP_CODE_COUNTRIES else "Postal code"


def clean_postal_code(value: str, country: str | None) -> str | None:
    """The postal code by the country's rule; None when empty.

    The US (and its territories): a 5-digit ZIP or ZIP+4, stored 12345-6789. Canada: A1A 1A1,
    stored upper-case with one space. Elsewhere: up to 12 letters, digits, spaces or hyphens,
    stored upper-case.
    """
    if not value:
        return None
    check_text(value, max_length=MAX_LENGTHS["postal_code"])
    country = (country or "US").upper()
    if country in ZIP_CODE_COUNTRIES:
        match = _US_ZIP.match(value)
        if not match:
            raise FieldError("Enter a 5-digit ZIP code, like 46204 or 46204-1234.")
        return match.group(1) + (f"-{match.group(2)}" if match.group(2) else "")
    if country == "CA":
        match = _CA_POSTAL.match(value.upper())
        if not match:
            raise FieldError("Enter a Canadian postal code, like K1A 0B1.")
        return f"{match.group(1)} {match.group(2)}"
    if not _POSTAL.match(value):
        raise FieldError("Enter a postal code of letters, digits, spaces or hyphens.")
    return value.upper()


@cache
def country_choices() -> tuple[tuple[str, str], ...]:
    """ISO 3166 countries as (alpha-2, name), the United States first."""
    names = sorted(
        ((c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries),
        key=lambda pair: pair[1],
    )
    us = [pair for pair in names if pair[0] == "US"]
    return tuple(us + [pair for pair in names if pair[0] != "US"])


EDUCATION_LEVELS: tuple[tuple[str, str], ...] = (
    ("high_school", "High school diploma or GED"),
    ("some_college", "Some college, no degree"),
    ("associate", "Associate degree"),
    ("bachelor", "Bachelor's degree"),
    ("master", "Master's degree or higher"),
    ("other", "Other"),
)

MILITARY_AFFILIATIONS: tuple[tuple[str, str], ...] = (
    ("none", "None"),
    ("active_duty", "Active duty"),
    ("veteran", "Veteran"),
    ("guard_reserve", "National Guard or Reserve"),
    ("spouse_dependent", "Military spouse or dependent"),
)

EDUCATION_KEYS: frozenset[str] = frozenset(key for key, _label in EDUCATION_LEVELS)
MILITARY_KEYS: frozenset[str] = frozenset(key for key, _label in MILITARY_AFFILIATIONS)


@cache
def country_codes() -> frozenset[str]:
    """The alpha-2 codes of country_choices()."""
    return frozenset(code for code, _name in country_choices())


_TERM_STARTS = ((1, "winter"), (3, "spring"), (6, "summer"), (9, "fall"))


def start_terms(today: dt.date | None = None, count: int = 6) -> tuple[tuple[str, str], ...]:
    """The next start terms as ("2027-spring", "Spring 2027"), plus "Not sure yet"."""
    today = today or dt.date.today()
    terms: list[tuple[str, str]] = []
    year = today.year
    while len(terms) < count:
        for month, season in _TERM_STARTS:
            if (year, month) > (today.year, today.month) and len(terms) < count:
                value = f"{year}-{season}"
                terms.append((value, start_term_label(value)))
        year += 1
    return (*terms, ("undecided", start_term_label("undecided")))


def start_term_label(value: str) -> str:
    """ "2027-spring" as "Spring 2027"; "undecided" as "Not sure yet"."""
    if value == "undecided":
        return "Not sure yet"
    year, _, season = value.partition("-")
    return f"{season.title()} {year}" if year.isdigit() and season else value


def valid_start_term(value: str, today: dt.date | None = None, *, grace_days: int = 1) -> bool:
    """True for a term the form offered today or in the last `grace_days` days.

    A form served on the last day before a term starts may be sent the next morning; its
    list still held that term.
    """
    today = today or dt.date.today()
    return any(
        value in dict(start_terms(today - dt.timedelta(days=back)))
        for back in range(grace_days + 1)
    )
