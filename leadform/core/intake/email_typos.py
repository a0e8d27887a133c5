"""A "Did you mean ...@gmail.com?" hint for email addresses with a mistyped domain.

Only a hint: the address typed is what is stored unless the person takes the suggestion.
A pure function of the address, so the form can show it after a failed submit and the
browser script (static/js/forms.js) can compute the same one on blur from `hint_data()`.
"""

from __future__ import annotations

from typing import Any

#: Mailbox providers most prospects use, roughly most used first (ties go to the first).
POPULAR_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "aol.com",
    "live.com",
    "msn.com",
    "comcast.net",
    "att.net",
    "sbcglobal.net",
    "verizon.net",
    "bellsouth.net",
    "charter.net",
    "cox.net",
    "me.com",
    "mac.com",
    "ymail.com",
    "rocketmail.com",
    "googlemail.com",
    "protonmail.com",
    "proton.me",
    "mail.com",
    "email.com",
    "gmx.com",
    "aim.com",
    "earthlink.net",
    "yahoo.ca",
    "hotmail.ca",
    "live.ca",
    "outlook.ca",
    "sympatico.ca",
    "rogers.com",
    "shaw.ca",
    "videotron.ca",
)

#: Providers that also hand out addresses under country domains (yahoo.co.uk, hotmail.fr):
#: under a two-letter country domain these are real addresses, not typos.
COUNTRY_VARIANT_PROVIDERS: frozenset[str] = frozenset(
    {"yahoo", "hotmail", "live", "outlook", "aol", "gmx", "msn", "ymail"}
)

#: Misspelled top-level domains that are no top-level domain at all, for any domain.
TLD_TYPOS: dict[str, str] = {
    "con": "com",
    "cmo": "com",
    "ocm": "com",
    "comm": "com",
    "coom": "com",
    "vom": "com",
    "xom": "com",
    "cpm": "com",
    "clm": "com",
    "nte": "net",
    "ent": "net",
    "nett": "net",
    "ogr": "org",
    "rog": "org",
    "orgg": "org",
    "eud": "edu",
    "deu": "edu",
}

#: How far a domain may be from a popular one (insertions, deletions, substitutions and
#: swaps of two neighbours) to be taken for a typo of it; and more than half of the name
#: before the last dot must be right ("qq.com" is not "me.com" mistyped).
MAX_DISTANCE = 2

#: Two-letter endings that are a cut-short ".com" on a provider's name ("yahoo.co",
#: "hotmail.cm"), rather than the provider's country domain.
_CUT_SHORT_COM = frozenset({"co", "cm", "om"})


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment: one edit per letter inserted, deleted, changed or swapped."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _is_country_variant(domain: str) -> bool:
    """yahoo.fr, hotmail.co.uk, outlook.com.au: a provider's real country domain."""
    labels = domain.split(".")
    if len(labels) < 2 or labels[0] not in COUNTRY_VARIANT_PROVIDERS:
        return False
    country = labels[-1]
    if len(country) != 2 or not country.isalpha():
        return False
    # "yahoo.co" is nearly always yahoo.com cut short; yahoo.co.uk is a real one.
    return len(labels) > 2 or country not in _CUT_SHORT_COM


def _distance(domain: str, popular: str) -> int | None:
    """Edits from `domain` to `popular`, or None when too far to be a typo of it."""
    name, _, tld = domain.rpartition(".")
    popular_name, _, popular_tld = popular.rpartition(".")
    name_distance = edit_distance(name, popular_name)
    if 2 * name_distance >= len(name):
        return None
    distance = name_distance + edit_distance(tld, popular_tld)
    return distance if distance <= MAX_DISTANCE else None


def suggest_domain(domain: str) -> str | None:
    """The domain this one is most likely a typo of, or None when it looks as meant."""
    domain = domain.strip().lower()
    if "." not in domain or domain in POPULAR_DOMAINS or _is_country_variant(domain):
        return None
    best: tuple[int, str] | None = None
    for popular in POPULAR_DOMAINS:
        distance = _distance(domain, popular)
        if distance is not None and (best is None or distance < best[0]):
            best = (distance, popular)
    if best is not None:
        return best[1]
    name, _, tld = domain.rpartition(".")
    if name and tld in TLD_TYPOS:
        return f"{name}.{TLD_TYPOS[tld]}"
    return None


def suggest_email(address: str) -> str | None:
    """The address with its domain corrected ("maria@gmial.con" -> "maria@gmail.com"), or None.

    The part before the @ is kept as typed. Nothing is suggested for an address that is not
    shaped like one (no @, spaces), which the field's own message is about.
    """
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in address):
        return None
    suggestion = suggest_domain(domain)
    return f"{local}@{suggestion}" if suggestion else None


def hint_data() -> dict[str, Any]:
    """The tables the browser script uses to make the same suggestions (as JSON)."""
    return {
        "domains": list(POPULAR_DOMAINS),
        "variants": sorted(COUNTRY_VARIANT_PROVIDERS),
        "tlds": TLD_TYPOS,
        "max": MAX_DISTANCE,
        "cutShort": sorted(_CUT_SHORT_COM),
    }
