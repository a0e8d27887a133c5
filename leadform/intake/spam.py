"""Spam signals: a suspect is quarantined quietly, never told what gave it away."""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app

from .validation import looks_like_spam_name


def reasons(form: Mapping[str, str], *, token_age: float) -> list[str]:
    """The reasons to quarantine this submission; empty when it looks like a person."""
    found = []
    if (form.get("website") or "").strip():
        found.append("honeypot")
    if token_age < current_app.config["MIN_FORM_SECONDS"]:
        found.append("too_fast")
    # Checked before the name rules, so a bot gets the thanks page, not a hint what to fix.
    if any(looks_like_spam_name(form.get(name) or "") for name in ("first_name", "last_name")):
        found.append("url_in_name")
    return found
