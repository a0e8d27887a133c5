"""Intake's storage: a request for information with its evidence, deduplicated.

Service functions take a Session, flush and never commit: the caller commits once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from ...db import Base
from ...models import (
    Activity,
    ConsentText,
    Lead,
    Program,
    Prospect,
    StaffUser,
    Submission,
)
from ...vocab import CLOSED_STATUSES, RESUBMITTED, STATUS_CHANGED, SUBMITTED
from .. import outbox
from .catalog import ConsentInfo, ProgramInfo
from .inquiry import UTM_FIELDS, Evidence, Inquiry, checked
from .validation import bad_characters


@dataclass(frozen=True)
class Outcome:
    """What storing a submission did."""

    submission_id: int
    lead_id: int
    lead_created: bool = False
    reopened: bool = False

    def lead(self, session: Session) -> Lead:
        """The lead, loaded in `session` (no query when this session already holds it)."""
        lead = session.get(Lead, self.lead_id)
        assert lead is not None  # noqa: S101 - stored in this transaction
        return lead


def active_programs(session: Session) -> list[Program]:
    """Active programs in catalog order."""
    stmt = (
        select(Program).where(Program.active.is_(True)).order_by(Program.sort_order, Program.name)
    )
    return list(session.scalars(stmt))


def get_program(session: Session, slug: str, *, active_only: bool = True) -> Program | None:
    """The program with this slug, or None."""
    if not slug or len(slug) > 80 or bad_characters(slug):
        return None  # from a URL: PostgreSQL refuses a NUL outright, so never ask
    stmt = select(Program).where(Program.slug == slug)
    if active_only:
        stmt = stmt.where(Program.active.is_(True))
    return session.scalars(stmt).one_or_none()


def get_active_consent(session: Session) -> ConsentText | None:
    """The consent text shown on forms now (the newest active version)."""
    stmt = (
        select(ConsentText)
        .where(ConsentText.active.is_(True))
        .order_by(ConsentText.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def find_submission(session: Session, idempotency_key: str) -> Submission | None:
    """A submission already stored under this idempotency key, if any."""
    stmt = select(Submission).where(Submission.idempotency_key == idempotency_key)
    return session.scalars(stmt).one_or_none()


def _insert_for(
    name: str,
) -> Callable[[Table], postgresql.Insert] | Callable[[Table], sqlite.Insert]:
    """The INSERT construct with ON CONFLICT support for this database dialect."""
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database: {name}")


def _params(model: type[Base], names: tuple[str, ...]) -> dict[str, Any]:
    """Named placeholders typed like their columns (so UTCDateTime still converts)."""
    columns = model.__table__.c
    return {name: bindparam(name, type_=columns[name].type) for name in names}


def _clip(value: str | None, length: int) -> str:
    """Header-borne text without control characters, cut to the column's length.

    A client controls these headers and never sees an error for them, so the odd
    character is dropped rather than refused (PostgreSQL cannot store NUL at all).
    """
    value = str(value or "")
    if bad_characters(value):
        value = "".join(ch for ch in value if not bad_characters(ch))
    return value[:length]


def _utm(evidence: Evidence) -> dict[str, str]:
    """Attribution values, cleaned: they come from URLs, not from the person, so never block."""
    return {name: _clip(str(evidence.utm.get(name) or "").strip(), 200) for name in UTM_FIELDS}


def _evidence_columns(evidence: Evidence) -> dict[str, object]:
    return {
        "channel": evidence.channel,
        "received_at": evidence.received_at,
        "ip": _clip(evidence.ip, 45),
        "user_agent": _clip(evidence.user_agent, 512),
        "page_url": _clip(evidence.page_url, 2048),
        "referrer": _clip(evidence.referrer, 2048),
        **_utm(evidence),
    }


_PROSPECT_COLUMNS = (
    "email_normalized",
    "email",
    "first_name",
    "last_name",
    "phone",
    "postal_code",
    "country",
    "consent",
    "consent_text_id",
    "consent_at",
    "sms_opt_in",
    "created_at",
    "updated_at",
)


@cache
def _prospect_upsert(dialect: str) -> ReturningInsert[Any]:
    """INSERT ... ON CONFLICT (email_normalized) DO UPDATE ... RETURNING the prospect's id.

    Built once per database with placeholders: constructing the statement and walking its
    values for the compiled-SQL cache key on every submission cost more than running it.
    A Core statement on the table: loading the row as an ORM object cost more than the
    INSERT, and only the id is needed.
    """
    table = Prospect.__table__
    stmt = _insert_for(dialect)(table).values(_params(Prospect, _PROSPECT_COLUMNS))
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[table.c.email_normalized],
        set_={
            "email": excluded.email,
            "first_name": excluded.first_name,
            "last_name": excluded.last_name,
            # An optional detail left blank this time keeps the one given before.
            "phone": func.coalesce(excluded.phone, table.c.phone),
            "postal_code": func.coalesce(excluded.postal_code, table.c.postal_code),
            "country": func.coalesce(excluded.country, table.c.country),
            "consent": excluded.consent,
            "consent_text_id": excluded.consent_text_id,
            "consent_at": excluded.consent_at,
            "sms_opt_in": excluded.sms_opt_in,
            "updated_at": excluded.updated_at,
        },
        # Only a request at least as new as what the person's details came from updates
        # them: an older one (a released spam hold, the loser of a race) must not bring back
        # an old name or a withdrawn SMS opt-in. No row comes back then; see upsert_prospect.
        where=table.c.updated_at <= excluded.updated_at,
    ).returning(table.c.id)


def upsert_prospect(
    session: Session, inquiry: Inquiry, consent: ConsentText | ConsentInfo, now: dt.datetime
) -> int:
    """Insert the person or update them from this newer submission, atomically; their id."""
    values = {
        "email_normalized": inquiry.email_normalized,
        "email": inquiry.email,
        "first_name": inquiry.first_name,
        "last_name": inquiry.last_name,
        "phone": inquiry.phone_e164,
        "postal_code": inquiry.postal_code,
        "country": inquiry.country,
        "consent": inquiry.consent,
        "consent_text_id": consent.id,
        "consent_at": now,
        "sms_opt_in": inquiry.sms_opt_in,
        "created_at": now,
        "updated_at": now,
    }
    stmt = _prospect_upsert(session.get_bind().dialect.name)
    # The id comes back with the statement: no second round trip, except for an older
    # request, which changes nothing and so returns nothing.
    prospect_id: int | None = session.execute(stmt, values).scalar_one_or_none()
    if prospect_id is None:
        by_email = select(Prospect.id).where(Prospect.email_normalized == inquiry.email_normalized)
        prospect_id = session.execute(by_email).scalar_one()
    return prospect_id


def _route_owner(session: Session, program: Program | ProgramInfo) -> int | None:
    """The counselor new leads for this program go to, when they are active and not away."""
    if program.default_owner_id is None:
        return None
    owner = session.get(StaffUser, program.default_owner_id)
    if owner is None or not owner.active or owner.away:
        return None
    return owner.id


_LEAD_COLUMNS = (
    "prospect_id",
    "program_id",
    "status",
    "owner_id",
    "last_submitted_at",
    "submission_count",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "created_at",
    "updated_at",
)


@cache
def _lead_insert(dialect: str) -> ReturningInsert[Any]:
    """INSERT ... ON CONFLICT (prospect, program) DO NOTHING RETURNING the new lead's id."""
    table = Lead.__table__
    return (
        _insert_for(dialect)(table)
        .values(_params(Lead, _LEAD_COLUMNS))
        .on_conflict_do_nothing(index_elements=[table.c.prospect_id, table.c.program_id])
        .returning(table.c.id)
    )


@cache
def _plain_insert(table: Table, returning_id: bool = False) -> Insert:
    """A Core INSERT into the table (built once): no ORM object is built for the row."""
    stmt = table.insert()
    return stmt.returning(table.c.id) if returning_id else stmt


@dataclass(frozen=True)
class LockedLead:
    """An existing lead, locked for this transaction, and whether staff closed it since."""

    lead: Lead
    #: Closed by a status change at or after this request's time: an older request (a
    #: released spam hold) must not reopen it.
    closed_since: bool


def workable_time(evidence: Evidence) -> dt.datetime:
    """When the request became workable: as received, or later (a released spam hold)."""
    if evidence.workable_at is None:
        return evidence.received_at
    return max(evidence.received_at, evidence.workable_at)


def upsert_lead(
    session: Session,
    prospect_id: int,
    program: Program | ProgramInfo,
    evidence: Evidence,
) -> tuple[int, LockedLead | None]:
    """Get the (prospect, program) lead with this submission counted; lock it for this transaction.

    INSERT ... ON CONFLICT DO NOTHING RETURNING, then, only when the lead already existed,
    SELECT ... FOR UPDATE: concurrent submissions for the same person and program wait for
    each other instead of creating twins. A row this transaction inserted is already locked
    (a concurrent insert of the same key waits on it), and its id comes back with the INSERT.
    Returns the lead's id and, for a lead that already existed, the lead (None: created).

    The lead's clock (last_submitted_at: the queue's order and age, speed to lead) runs from
    when the request became workable (`workable_time`); its first request (created_at) and
    the rule that staff's later decisions stand go by when it was received.
    """
    received = evidence.received_at
    workable = workable_time(evidence)
    utm = _utm(evidence)
    values = {
        "prospect_id": prospect_id,
        "program_id": program.id,
        "status": "new",
        "owner_id": _route_owner(session, program),
        "last_submitted_at": workable,
        "submission_count": 1,
        "utm_source": utm["utm_source"] or None,
        "utm_medium": utm["utm_medium"] or None,
        "utm_campaign": utm["utm_campaign"] or None,
        "created_at": received,
        "updated_at": workable,
    }
    stmt = _lead_insert(session.get_bind().dialect.name)
    lead_id: int | None = session.execute(stmt, values).scalar_one_or_none()
    if lead_id is not None:
        return lead_id, None
    lead = session.scalars(
        select(Lead)
        .where(Lead.prospect_id == prospect_id, Lead.program_id == program.id)
        .with_for_update(),
        execution_options={"populate_existing": True},
    ).one()
    closed_since = False
    if lead.status in CLOSED_STATUSES:
        # When staff last decided the status: not updated_at, which any change (an owner,
        # a follow-up, this very request's flush) moves. Rare path: closed leads only.
        decided_at = session.scalar(
            select(func.max(Activity.created_at)).where(
                Activity.lead_id == lead.id, Activity.kind == STATUS_CHANGED
            )
        )
        closed_since = decided_at is not None and decided_at >= received
    lead.submission_count += 1
    # A lead closed after this request arrived stays closed (record_submission): the request
    # is counted but does not make the lead workable, so its clock goes by the request's
    # own time. Otherwise the lead is workable from now on. Never backwards: two copies
    # racing, the one that waited on the lock may be the older request.
    stays_closed = lead.status in CLOSED_STATUSES and closed_since
    lead.last_submitted_at = max(lead.last_submitted_at, received if stays_closed else workable)
    return lead.id, LockedLead(lead, closed_since)


def record_submission(
    session: Session,
    inquiry: Inquiry,
    evidence: Evidence,
    *,
    idempotency_key: str,
    consent: ConsentText | ConsentInfo,
    notify: bool = True,
) -> Outcome:
    """Store an accepted submission: prospect, lead, submission, activity and outbox event.

    notify=False leaves out the outbox event (made-up history must not reach anyone).
    The new rows are written with Core INSERTs, not ORM objects: on the submit path the
    unit of work cost more than the statements. Only an existing lead is an ORM object.
    """
    # The person's details go by when they were sent (an older request never overwrites
    # newer ones); the lead's timeline, clock and notification by when it became workable.
    prospect_id = upsert_prospect(session, inquiry, consent, evidence.received_at)
    lead_id, existing = upsert_lead(session, prospect_id, inquiry.program, evidence)
    now = workable_time(evidence)
    lead = existing.lead if existing is not None else None
    created = lead is None

    sent = inquiry.as_submitted
    submission_id: int = session.execute(
        _plain_insert(Submission.__table__, returning_id=True),
        {
            "idempotency_key": idempotency_key,
            "lead_id": lead_id,
            "prospect_id": prospect_id,
            "program_id": inquiry.program.id,
            "program_slug": inquiry.program.slug,
            # Evidence records what was sent (DESIGN invariant 3), not what it was cleaned to.
            "first_name": sent.get("first_name", inquiry.first_name),
            "last_name": sent.get("last_name", inquiry.last_name),
            "email": sent.get("email", inquiry.email),
            "phone": inquiry.phone,
            "phone_e164": inquiry.phone_e164,
            "postal_code": sent.get("postal_code", inquiry.postal_code or ""),
            "country": sent.get("country", inquiry.country or ""),
            "start_term": inquiry.start_term,
            "education_level": inquiry.education_level,
            "military": inquiry.military,
            "comments": inquiry.comments,
            "sms_opt_in": inquiry.sms_opt_in,
            "consent": inquiry.consent,
            "consent_text_id": consent.id,
            "consent_version": consent.version,
            "consent_sha256": consent.sha256,
            "spam_verdict": "ok",
            "spam_reasons": "",
            **_evidence_columns(evidence),
        },
    ).scalar_one()

    def activity(kind: str, body: str, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "lead_id": lead_id,
            "kind": kind,
            "actor_id": None,
            "submission_id": submission_id,
            "body": body,
            "data": data,
            "created_at": now,
        }

    reopened = False
    if lead is None:
        activities = [activity(SUBMITTED, f"Requested information ({evidence.channel}).", {})]
    else:
        activities = [
            activity(RESUBMITTED, f"Requested information again ({evidence.channel}).", {})
        ]
        # Reopened by a request newer than the status decision: an older one (a spam hold
        # released later) must not undo a decision staff made after it arrived.
        if lead.status in CLOSED_STATUSES and existing is not None and not existing.closed_since:
            activities.append(
                activity(
                    STATUS_CHANGED,
                    f"Reopened by a new request (was {lead.status}).",
                    {"from": lead.status, "to": "new"},
                )
            )
            lead.status = "new"
            # The speed-to-lead clock restarts for the new request; the timeline keeps the history.
            lead.first_contacted_at = None
            reopened = True
    session.execute(
        _plain_insert(Activity.__table__), activities[0] if len(activities) == 1 else activities
    )

    if notify:
        outbox.lead_event(
            session,
            created=created,
            lead_id=lead_id,
            submission_id=submission_id,
            reopened=reopened,
            now=now,
        )
    if lead is not None:
        session.flush()  # the existing lead's count, time and status
    return Outcome(
        submission_id=submission_id, lead_id=lead_id, lead_created=created, reopened=reopened
    )


def quarantine_submission(
    session: Session,
    raw: Mapping[str, str],
    evidence: Evidence,
    *,
    idempotency_key: str,
    reasons: list[str],
    consent: ConsentText | ConsentInfo | None,
    program: Program | ProgramInfo | None,
) -> Submission:
    """Keep a suspected-spam submission for review: no prospect, no lead, nothing sent."""

    def text(name: str, length: int) -> str:
        # Stored as evidence only; NUL cannot go into PostgreSQL text.
        return str(raw.get(name) or "").replace("\x00", "")[:length]

    submission = Submission(
        idempotency_key=idempotency_key,
        program_id=program.id if program else None,
        program_slug=text("program", 80),
        first_name=text("first_name", 200),
        last_name=text("last_name", 200),
        email=text("email", 254),
        phone=text("phone", 40),
        postal_code=text("postal_code", 20),
        country=text("country", 2),
        start_term=text("start_term", 40),
        education_level=text("education_level", 40),
        military=text("military", 40),
        comments=text("comments", 5000),
        # As the form reads a checkbox: "no", "off", "0"... are not a tick.
        sms_opt_in=checked(raw.get("sms_opt_in")),
        consent=checked(raw.get("consent")),
        consent_text_id=consent.id if consent else None,
        consent_version=consent.version if consent else None,
        consent_sha256=consent.sha256 if consent else None,
        spam_verdict="quarantined",
        spam_reasons=",".join(reasons)[:200],
        **_evidence_columns(evidence),
    )
    session.add(submission)
    session.flush()
    return submission
