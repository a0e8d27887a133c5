"""The spam quarantine: what was held back, and a manager's decision on it.

A quarantined submission stays exactly as it arrived (evidence is immutable). Releasing it
runs a copy through intake at its original time, under the idempotency key ``release:<id>``:
a new lead (notified like any), or one more request on the person's lead. Being older than
what came since, it does not overwrite newer details nor reopen a lead closed after it
arrived. Dismissing only records the decision. Services flush, never commit; the view checks
the role and commits once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, selectinload

from .. import audit
from ..db import utcnow
from ..intake import service
from ..intake import validation as v
from ..models import Activity, SpamReview, StaffUser, Submission

#: Why a submission was held, in words a manager reads (the codes intake/spam.py stores).
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

    submissions: list[Submission]  # each with its program loaded
    reviews: dict[int, SpamReview]  # by submission id (only on the reviewed list)
    next_cursor: int | None


def reason_labels(submission: Submission) -> list[str]:
    """The reasons a submission was held, in words."""
    codes = [code for code in submission.spam_reasons.split(",") if code]
    return [REASON_LABELS.get(code, code) for code in codes]


def _reviewed(submission_id: object) -> object:
    return exists().where(SpamReview.submission_id == submission_id)


def quarantine_page(session: Session, *, reviewed: bool, after: int | None) -> QuarantinePage:
    """Held submissions still to review (newest first) or the decisions (latest first).

    Keyset paged: `after` is the last submission id shown (to review) or the last review id
    shown (reviewed), and next_cursor the same for the next page.
    """
    with_program = selectinload(Submission.program)
    if reviewed:
        stmt = select(SpamReview).options(
            selectinload(SpamReview.submission).options(with_program),
            selectinload(SpamReview.released_submission),
        )
        key = SpamReview.id
    else:
        stmt = (
            select(Submission)
            .where(Submission.spam_verdict == "quarantined", ~_reviewed(Submission.id))
            .options(with_program)
        )
        key = Submission.id
    if after is not None:
        stmt = stmt.where(key < after)
    found = list(session.scalars(stmt.order_by(key.desc()).limit(PAGE_SIZE + 1)))
    cursor = found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None
    found = found[:PAGE_SIZE]
    if not reviewed:
        return QuarantinePage(found, {}, cursor)
    reviews = {review.submission_id: review for review in found}
    return QuarantinePage([review.submission for review in found], reviews, cursor)


#: Counting stops here ("1,000+"): bots never stop, and an exact count would grow forever.
COUNT_CAP = 1000


def pending_count(session: Session) -> int:
    """How many held submissions nobody has decided on yet, up to COUNT_CAP + 1."""
    newest = (
        select(Submission.id)
        .where(Submission.spam_verdict == "quarantined", ~_reviewed(Submission.id))
        .order_by(Submission.id.desc())
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(newest)) or 0


def held_submission(session: Session, submission_id: int) -> Submission | None:
    """A quarantined submission by id (None for an accepted one or no such row)."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.spam_verdict != "quarantined":
        return None
    return submission


def _already_reviewed(session: Session, submission: Submission) -> bool:
    return session.scalar(select(_reviewed(submission.id))) or False  # type: ignore[arg-type]


@contextmanager
def _checking(label: str) -> Iterator[None]:
    """Run intake rules on stored values; a FieldError says which field is wrong."""
    try:
        yield
    except v.FieldError as exc:
        raise ReleaseError(f"{label}: {exc}") from None


def inquiry_from(submission: Submission) -> service.Inquiry:
    """The held submission as an intake Inquiry, checked with the form's own rules."""
    program = submission.program
    if program is None:
        raise ReleaseError("Program: the request names no program we know.")
    if not program.active:
        raise ReleaseError(f"Program: {program.name} is no longer offered.")
    for label, name in (("First name", submission.first_name), ("Last name", submission.last_name)):
        if v.looks_like_spam_name(name):
            raise ReleaseError(f"{label}: holds a web address or markup, as bots' names do.")
    if not submission.consent or submission.consent_text_id is None:
        raise ReleaseError("Consent: the person did not agree to be contacted.")
    country = submission.country or None
    if country is not None and country not in dict(v.country_choices()):
        raise ReleaseError("Country: not a country from the list.")
    with _checking("First name"):
        first_name = v.clean_name(submission.first_name, "First name")
    with _checking("Last name"):
        last_name = v.clean_name(submission.last_name, "Last name")
    with _checking("Email"):
        email, email_normalized = v.clean_email(submission.email)
    with _checking("Phone"):
        phone_e164 = v.clean_phone(submission.phone, country)
    with _checking("ZIP code"):
        postal_code = v.clean_postal_code(submission.postal_code, country)
    with _checking("Questions or comments"):
        v.check_text(submission.comments, max_length=2000, multiline=True)
    # Optional choices that no longer fit (a term that has started) are left out, not fatal.
    start_term = submission.start_term
    if start_term and not v.valid_start_term(start_term):
        start_term = ""
    education = submission.education_level
    if education not in dict(v.EDUCATION_LEVELS):
        education = ""
    military = submission.military
    if military not in dict(v.MILITARY_AFFILIATIONS):
        military = ""
    return service.Inquiry(
        first_name=first_name,
        last_name=last_name,
        email=email,
        email_normalized=email_normalized,
        program=program,
        consent=True,
        phone=submission.phone,
        phone_e164=phone_e164,
        postal_code=postal_code,
        country=country,
        start_term=start_term,
        education_level=education,
        military=military,
        comments=submission.comments,
        sms_opt_in=submission.sms_opt_in,
        as_submitted={name: getattr(submission, name) for name in service.AS_SUBMITTED_FIELDS},
    )


def release(session: Session, submission: Submission, actor: StaffUser) -> service.Outcome:
    """Send a held submission through intake after all: it becomes (part of) a lead."""
    if _already_reviewed(session, submission):
        raise ReleaseError("Someone has already decided on this request.")
    inquiry = inquiry_from(submission)
    consent = submission.consent_text
    if consent is None:  # checked by inquiry_from; the row cannot go while referenced
        raise ReleaseError("Consent: the consent text shown is gone.")
    evidence = service.Evidence(
        channel=submission.channel,
        ip=submission.ip,
        user_agent=submission.user_agent,
        page_url=submission.page_url,
        referrer=submission.referrer,
        utm={name: getattr(submission, name) for name in service.UTM_FIELDS},
        # When the person asked: speed-to-lead counts from then, as it would have.
        received_at=submission.received_at,
    )
    outcome = service.record_submission(
        session,
        inquiry,
        evidence,
        idempotency_key=f"release:{submission.id}",
        consent=consent,
    )
    reasons = ", ".join(reason_labels(submission)).lower()
    session.add(
        Activity(
            lead_id=outcome.lead_id,
            kind="released",
            actor_id=actor.id,
            submission_id=outcome.submission_id,
            body=f"Released from the spam quarantine (held for: {reasons}).",
            data={"quarantined_submission_id": submission.id},
            created_at=utcnow(),
        )
    )
    session.add(
        SpamReview(
            submission_id=submission.id,
            decision="released",
            reviewer_id=actor.id,
            released_submission_id=outcome.submission_id,
        )
    )
    audit.record(
        session,
        "spam.released",
        actor=actor,
        target_type="submission",
        target_id=submission.id,
        lead_id=outcome.lead_id,
        released_submission_id=outcome.submission_id,
    )
    session.flush()
    return outcome


def dismiss(session: Session, submission: Submission, actor: StaffUser) -> None:
    """Confirm a held submission as spam: it stays stored, off the review list."""
    if _already_reviewed(session, submission):
        raise ReleaseError("Someone has already decided on this request.")
    session.add(SpamReview(submission_id=submission.id, decision="dismissed", reviewer_id=actor.id))
    audit.record(
        session, "spam.dismissed", actor=actor, target_type="submission", target_id=submission.id
    )
    session.flush()


def dismiss_many(session: Session, submission_ids: list[int], actor: StaffUser) -> int:
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
    audit.record(
        session, "spam.dismissed", actor=actor, target_type="submission", submission_ids=pending
    )
    session.flush()
    return len(pending)
