"""The spam quarantine: what was held back, and a manager's decision on it.

A quarantined submission stays exactly as it arrived (evidence is immutable). Releasing it
runs a copy through intake, under the idempotency key ``release:<id>``: a new lead (notified
like any), or one more request on the person's lead. The copy keeps its original time; the
lead counts from the release, when it became workable. Being older than what came since, it
does not overwrite newer details nor reopen a lead closed after it arrived. Dismissing only
records the decision. Services flush, never commit; the view checks the role and commits once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, SQLColumnExpression, bindparam, exists, func, select, tuple_
from sqlalchemy.orm import Session, selectinload

from ..models import Activity, SpamReview, Submission
from ..vocab import RELEASED
from . import audit
from .audit import Actor
from .errors import ValidationFailed
from .intake import store
from .intake import validation as v
from .intake.catalog import ConsentInfo, ProgramInfo
from .intake.inquiry import AS_SUBMITTED_FIELDS, UTM_FIELDS, Evidence, parse_inquiry
from .intake.submit import Received, submit, term_grace_days
from .settings import Settings

#: Why a submission was held, in words a manager reads (the codes core/intake/signals.py stores).
REASON_LABELS: dict[str, str] = {
    "honeypot": "Filled in the hidden bot-trap field",
    "too_fast": "Sent within seconds of the page loading",
    "url_in_name": "A web address or markup in a name",
}
PAGE_SIZE = 50


class ReleaseError(ValueError):
    """The submission cannot become a lead as it stands; the message says why."""


@dataclass(frozen=True)
class QuarantinePage:
    """One page of held submissions, and where the next page starts."""

    submissions: list[Submission]  # each with its program and consent text loaded
    reviews: dict[int, SpamReview]  # by submission id (only on the reviewed list)
    next_cursor: str | None
    #: The cursor this page started after, as applied (None: the first page).
    after: str | None = None


def reason_labels(submission: Submission) -> list[str]:
    """The reasons a submission was held, in words."""
    codes = [code for code in submission.spam_reasons.split(",") if code]
    return [REASON_LABELS.get(code, code) for code in codes]


def _reviewed(submission_id: SQLColumnExpression[int] | int) -> Exists:
    return exists().where(SpamReview.submission_id == submission_id)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_ID = 2**31 - 1


def _number(raw: str, maximum: int) -> int | None:
    """A plain decimal number in 0..maximum from a URL, or None (signs, "²", NUL: None)."""
    if not raw or len(raw) > 20 or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= maximum else None


def _encode_held_cursor(received_at: dt.datetime, submission_id: int) -> str:
    """A position in the to-review list: "<received_at in µs since 1970>_<id>"."""
    micros = (received_at - _EPOCH) // dt.timedelta(microseconds=1)
    return f"{micros}_{submission_id}"


def _held_cursor(submission: Submission) -> str:
    """The to-review list's position after this submission."""
    return _encode_held_cursor(submission.received_at, submission.id)


def _parse_held_cursor(raw: str | None) -> tuple[dt.datetime, int] | None:
    """The (received_at, id) in a to-review cursor; None when missing or garbled."""
    micros, _, ident = (raw or "").partition("_")
    when = _number(micros, 10**17)  # microseconds: good for three thousand years
    submission_id = _number(ident, _MAX_ID)
    if when is None or submission_id is None:
        return None
    return _EPOCH + dt.timedelta(microseconds=when), submission_id


def quarantine_page(session: Session, *, reviewed: bool, after: str | None) -> QuarantinePage:
    """Held submissions still to review (newest first) or the decisions (latest first).

    Keyset paged: `after` is the cursor of the last row shown (next_cursor of the page
    before); a missing or garbled one starts at the first page. The list to review is in
    the order the requests were received (received_at, then id: a request stored later may
    have been sent earlier), and so is its cursor, which the partial index
    ix_submissions_quarantined_received_at_id serves as a range scan.
    """
    with_program = selectinload(Submission.program)
    if reviewed:
        decisions = select(SpamReview).options(
            selectinload(SpamReview.submission).options(with_program),
            selectinload(SpamReview.released_submission),
        )
        review_id = _number(after or "", _MAX_ID)
        if review_id is not None:
            decisions = decisions.where(SpamReview.id < review_id)
        decisions = decisions.order_by(SpamReview.id.desc()).limit(PAGE_SIZE + 1)
        found = list(session.scalars(decisions))
        cursor = str(found[PAGE_SIZE - 1].id) if len(found) > PAGE_SIZE else None
        found = found[:PAGE_SIZE]
        reviews = {review.submission_id: review for review in found}
        applied = str(review_id) if review_id is not None else None
        return QuarantinePage([review.submission for review in found], reviews, cursor, applied)
    held = (
        select(Submission)
        .where(Submission.spam_verdict == "quarantined", ~_reviewed(Submission.id))
        .options(with_program, selectinload(Submission.consent_text))
    )
    position = _parse_held_cursor(after)
    applied = None
    if position is not None:
        received_at, submission_id = position
        applied = _encode_held_cursor(received_at, submission_id)
        key = tuple_(Submission.received_at, Submission.id)
        bound = tuple_(
            bindparam(None, received_at, type_=Submission.received_at.type),
            bindparam(None, submission_id, type_=Submission.id.type),
        )
        held = held.where(key < bound)
    held = held.order_by(Submission.received_at.desc(), Submission.id.desc()).limit(PAGE_SIZE + 1)
    submissions = list(session.scalars(held))
    cursor = _held_cursor(submissions[PAGE_SIZE - 1]) if len(submissions) > PAGE_SIZE else None
    return QuarantinePage(submissions[:PAGE_SIZE], {}, cursor, applied)


#: Counting stops here ("1,000+"): bots never stop, and an exact count would grow forever.
COUNT_CAP = 1000


def pending_count(session: Session) -> int:
    """How many held submissions nobody has decided on yet, up to COUNT_CAP + 1.

    Cheap enough for every manager's page header: at most COUNT_CAP + 1 entries of the
    quarantine's partial index, each with a unique-index probe for a decision.
    """
    newest = (
        select(Submission.id)
        .where(Submission.spam_verdict == "quarantined", ~_reviewed(Submission.id))
        .order_by(Submission.received_at.desc(), Submission.id.desc())
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(newest)) or 0


def pending_label(count: int) -> str:
    """A count to review as shown: "12", or "1,000+" above the cap."""
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"


def held_submission(session: Session, submission_id: int) -> Submission | None:
    """A quarantined submission by id (None for an accepted one or no such row)."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.spam_verdict != "quarantined":
        return None
    return submission


def _already_reviewed(session: Session, submission: Submission) -> bool:
    return session.scalar(select(_reviewed(submission.id))) or False


#: Labels of the fields a release can find wrong, for its messages.
FIELD_LABELS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone": "Phone",
    "postal_code": "ZIP code",
    "country": "Country",
    "program": "Program",
    "comments": "Questions or comments",
    "consent": "Consent",
}


def release_fields(submission: Submission) -> dict[str, Any]:
    """The held submission's fields as intake takes them.

    Optional choices that no longer fit (a term that has started, a retired option) are left
    out rather than fatal: the person's request is what matters.
    """
    fields: dict[str, Any] = {
        name: getattr(submission, name)
        for name in (*AS_SUBMITTED_FIELDS, "phone", "comments", "sms_opt_in", "consent")
    }
    fields["program"] = submission.program_slug
    fields["start_term"] = (
        submission.start_term if v.valid_start_term(submission.start_term) else ""
    )
    fields["education_level"] = (
        submission.education_level if submission.education_level in v.EDUCATION_KEYS else ""
    )
    fields["military"] = submission.military if submission.military in v.MILITARY_KEYS else ""
    return fields


def release_problem(submission: Submission, settings: Settings | None = None) -> str | None:
    """Why this held submission cannot become a lead, or None when it can (nothing written).

    With `settings`, also checks the fields by the form's rules, as the release will (but
    without looking the email domain up: the review page asks this for every request it
    lists), so the page shows the reason instead of a button that can only fail.
    """
    problem = _release_blocker(submission)
    if problem is not None or settings is None:
        return problem
    program = submission.program
    assert program is not None  # noqa: S101 - _release_blocker said so otherwise
    try:
        parse_inquiry(
            release_fields(submission),
            {program.slug: ProgramInfo.of(program)},
            check_deliverability=False,
            term_grace_days=term_grace_days(settings),
        )
    except ValidationFailed as exc:
        return _first_error(exc)
    return None


def _first_error(exc: ValidationFailed) -> str:
    name, messages = next(iter(exc.errors.items()))
    return f"{FIELD_LABELS.get(name, name)}: {messages[0]}"


def _release_blocker(submission: Submission) -> str | None:
    program = submission.program
    if program is None:
        return "Program: the request names no program we know."
    if not program.active:
        return f"Program: {program.name} is no longer offered."
    for label, name in (("First name", submission.first_name), ("Last name", submission.last_name)):
        if v.looks_like_spam_name(name):
            return f"{label}: holds a web address or markup, as bots' names do."
    if not submission.consent or submission.consent_text is None:
        return "Consent: the person did not agree to be contacted."
    return None


def release(
    session: Session,
    submission: Submission,
    actor: Actor,
    settings: Settings,
    *,
    served_url: str | None = None,
    now: dt.datetime | None = None,
) -> store.Outcome:
    """Send a held submission through intake after all: it becomes (part of) a lead.

    The copy keeps the time the person sent the request; the lead counts from `now`, when
    it became workable: a counselor could not have called before the release.
    `served_url`: the address the manager reached the app at (see Received.served_url).
    """
    now = now or dt.datetime.now(dt.UTC)
    if _already_reviewed(session, submission):
        raise ReleaseError("Someone has already decided on this request.")
    problem = release_problem(submission)  # the fields: checked by the release itself
    if problem is not None:
        raise ReleaseError(problem)
    program, consent = submission.program, submission.consent_text
    if program is None or consent is None:  # release_problem said so already
        raise ReleaseError("Program or consent: missing.")
    received = Received(
        fields=release_fields(submission),
        evidence=Evidence(
            channel=submission.channel,
            api_key_id=submission.api_key_id,
            ip=submission.ip,
            user_agent=submission.user_agent,
            page_url=submission.page_url,
            referrer=submission.referrer,
            utm={name: getattr(submission, name) for name in UTM_FIELDS},
            # When the person asked, kept as evidence; the lead's clock (the queue's age,
            # speed to lead) runs from the release, when the lead became workable.
            received_at=submission.received_at,
            workable_at=now,
        ),
        idempotency_key=f"release:{submission.id}",
        consent=ConsentInfo.of(consent),
        served_url=served_url,
    )
    try:
        # Not screened again: a manager has looked at it and decided it is a person's.
        done = submit(
            session,
            received,
            programs={program.slug: ProgramInfo.of(program)},
            settings=settings,
            screen=False,
        )
    except ValidationFailed as exc:
        raise ReleaseError(_first_error(exc)) from None
    outcome = done.outcome
    assert outcome is not None  # noqa: S101 - not screened, so never quarantined
    reasons = ", ".join(reason_labels(submission)).lower()
    session.add(
        Activity(
            lead_id=outcome.lead_id,
            kind=RELEASED,
            actor_id=actor.id,
            submission_id=outcome.submission_id,
            body=f"Released from the spam quarantine (held for: {reasons}).",
            data={"quarantined_submission_id": submission.id},
            created_at=now,
        )
    )
    session.add(
        SpamReview(
            submission_id=submission.id,
            decision="released",
            reviewer_id=actor.id,
            released_submission_id=outcome.submission_id,
            reviewed_at=now,
        )
    )
    audit.record(
        session,
        "spam.released",
        actor,
        target_type="submission",
        target_id=submission.id,
        lead_id=outcome.lead_id,
        released_submission_id=outcome.submission_id,
    )
    session.flush()
    return outcome


def dismiss(session: Session, submission: Submission, actor: Actor) -> None:
    """Confirm a held submission as spam: it stays stored, off the review list."""
    if _already_reviewed(session, submission):
        raise ReleaseError("Someone has already decided on this request.")
    session.add(SpamReview(submission_id=submission.id, decision="dismissed", reviewer_id=actor.id))
    audit.record(
        session, "spam.dismissed", actor, target_type="submission", target_id=submission.id
    )
    session.flush()


def dismiss_many(session: Session, submission_ids: list[int], actor: Actor) -> int:
    """Dismiss the held requests among these ids that nobody has decided on; how many."""
    stmt = select(Submission.id).where(
        Submission.id.in_(submission_ids),
        Submission.spam_verdict == "quarantined",
        ~_reviewed(Submission.id),
    )
    pending = list(session.scalars(stmt))
    if not pending:
        return 0
    session.add_all(
        SpamReview(submission_id=submission_id, decision="dismissed", reviewer_id=actor.id)
        for submission_id in pending
    )
    audit.record(session, "spam.dismissed", actor, target_type="submission", submission_ids=pending)
    session.flush()
    return len(pending)
