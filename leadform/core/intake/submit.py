"""The submit use case: every door into intake comes through here.

The program pages' form, the embed form, the spam release, the demo loader and the test
factories (and next the JSON API) hand over what arrived; this decides, in one place, the
order of the spam checks, which consent version applies, and what is stored. It flushes and
never commits: the adapter commits once, and answers a replay (the idempotency key's unique
constraint) with what was stored the first time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from .. import outbox
from ..errors import ValidationFailed
from ..settings import Settings
from . import signals, store
from .catalog import ConsentInfo, ProgramInfo
from .inquiry import Evidence, Inquiry, parse_inquiry


@dataclass(frozen=True)
class Received:
    """What arrived at a door, before any rule looked at it."""

    #: The fields by their public names, as sent (text; booleans for the checkboxes).
    fields: Mapping[str, Any]
    evidence: Evidence
    #: Stored once: a double click or replay under the same key is the same submission.
    idempotency_key: str
    #: The consent text version the person was shown (and so agreed to).
    consent: ConsentInfo
    #: Seconds since the form was served (the time trap); None where no form was served.
    form_age: float | None = None
    #: The web app's own address as this request reached it (scheme, host, port): in
    #: development, without LEADFORM_BASE_URL, links in the notification mail point there.
    served_url: str | None = None


@dataclass(frozen=True)
class Submitted:
    """What became of a submission."""

    #: The program asked about, as far as it is known (for the thanks page).
    program: ProgramInfo | None
    #: Stored as suspected spam: nothing else happened and nobody is told.
    quarantined: bool = False
    outcome: store.Outcome | None = None
    inquiry: Inquiry | None = field(default=None, repr=False)


def term_grace_days(settings: Settings) -> int:
    """Days a start term stays acceptable after the form stopped offering it.

    A form is good for FORM_TOKEN_MAX_AGE: one served the day before a term starts may be
    sent the next morning, and its list still held that term.
    """
    return -(-int(settings.form_token_max_age) // 86400)


def parse(
    fields: Mapping[str, Any],
    programs: Mapping[str, ProgramInfo],
    settings: Settings,
    *,
    today: dt.date | None = None,
) -> Inquiry:
    """Check and clean the fields with the settings' options; raise ValidationFailed."""
    return parse_inquiry(
        fields,
        programs,
        check_deliverability=settings.email_check_deliverability,
        term_grace_days=term_grace_days(settings),
        today=today,
    )


def submit(
    session: Session,
    received: Received,
    *,
    programs: Mapping[str, ProgramInfo],
    settings: Settings,
    screen: bool = True,
    notify: bool = True,
) -> Submitted:
    """Screen, validate and store one submission; raise ValidationFailed for bad input.

    `screen=False` skips the spam signals (a manager released the request, or the data
    is made up); `notify=False` writes no outbox event (made-up history reaches nobody).
    """
    raw = received.fields
    reasons: list[str] = []
    if screen:
        reasons = signals.reasons(
            raw, form_age=received.form_age, min_form_seconds=settings.min_form_seconds
        )
    # Honeypot and web addresses in names quarantine at once, so a bot is not told what
    # to fix. Only a form that is valid is quarantined for being sent too fast: a person
    # who selects the button at once on an empty form gets the field errors instead.
    if reasons and reasons != [signals.TOO_FAST]:
        return _quarantine(session, received, programs, reasons)
    inquiry = parse(raw, programs, settings)
    if reasons:
        return _quarantine(session, received, programs, reasons)
    outcome = store.record_submission(
        session,
        inquiry,
        received.evidence,
        idempotency_key=received.idempotency_key,
        consent=received.consent,
        notify=notify,
        team=settings.notify_emails,
        served_url=outbox.served_url_to_keep(settings, received.served_url),
    )
    return Submitted(program=inquiry.program, outcome=outcome, inquiry=inquiry)


def _quarantine(
    session: Session,
    received: Received,
    programs: Mapping[str, ProgramInfo],
    reasons: list[str],
) -> Submitted:
    """Keep the submission as suspected spam; the sender is answered as if all went well."""
    program = programs.get(str(received.fields.get("program") or ""))
    store.quarantine_submission(
        session,
        received.fields,
        received.evidence,
        idempotency_key=received.idempotency_key,
        reasons=reasons,
        consent=received.consent,
        program=program,
    )
    return Submitted(program=program, quarantined=True)


__all__ = ["Received", "Submitted", "ValidationFailed", "parse", "submit", "term_grace_days"]
