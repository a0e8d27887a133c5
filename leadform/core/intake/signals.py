"""Spam signals: a suspect is quarantined quietly, never told what gave it away."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .validation import looks_like_spam_name

HONEYPOT = "honeypot"
TOO_FAST = "too_fast"
URL_IN_NAME = "url_in_name"


def reasons(
    form: Mapping[str, Any], *, form_age: float | None, min_form_seconds: float
) -> list[str]:
    """The reasons to quarantine this submission; empty when it looks like a person.

    `form_age` is None where no form was served (nothing to time).
    """
    found = []
    if str(form.get("website") or "").strip():
        found.append(HONEYPOT)
    if form_age is not None and form_age < min_form_seconds:
        found.append(TOO_FAST)
    # Checked before the name rules, so a bot gets the thanks page, not a hint what to fix.
    if any(looks_like_spam_name(str(form.get(name) or "")) for name in ("first_name", "last_name")):
        found.append(URL_IN_NAME)
    return found
