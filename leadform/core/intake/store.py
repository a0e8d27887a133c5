"""Intake's storage: a request for information with its evidence, deduplicated.

Service functions take a Session, flush and never commit: the caller commits once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, TextClause, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
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
    new_public_id,
)
from ...vocab import CLOSED_STATUSES, RESUBMITTED, STATUS_CHANGED, SUBMITTED
from .. import outbox, routing
from ..leads.search import search_name
from .catalog import ConsentInfo, ProgramInfo
from .inquiry import SMS_OPT_IN_SHA256, SMS_OPT_IN_TEXT, UTM_FIELDS, Evidence, Inquiry, checked
from .validation import bad_characters


@dataclass(frozen=True)
class Outcome:
    """What storing a submission did."""

    submission_id: int
    lead_id: int
    #: The lead's id for the outside world (the JSON API's answer), never the database id.
    lead_public_id: str = ""
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


def _sms_opt_in_columns(opted_in: bool) -> dict[str, object]:
    """The opt-in to texts and, when ticked, the wording the person ticked."""
    return {
        "sms_opt_in": opted_in,
        "sms_opt_in_text": SMS_OPT_IN_TEXT if opted_in else None,
        "sms_opt_in_sha256": SMS_OPT_IN_SHA256 if opted_in else None,
    }


def _evidence_columns(evidence: Evidence) -> dict[str, object]:
    return {
        "channel": evidence.channel,
        "api_key_id": evidence.api_key_id,
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
    "search_name",
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
    INSERT, and only the id is needed. On PostgreSQL it also draws the ids of the lead and
    the submission this request may create, so the rows after it can be written together
    in one statement (`_new_lead_rows`): a sequence value not used is a gap, nothing more.
    """
    table = Prospect.__table__
    stmt = _insert_for(dialect)(table).values(_params(Prospect, _PROSPECT_COLUMNS))
    excluded = stmt.excluded
    upsert = stmt.on_conflict_do_update(
        index_elements=[table.c.email_normalized],
        set_={
            "email": excluded.email,
            "first_name": excluded.first_name,
            "last_name": excluded.last_name,
            "search_name": excluded.search_name,
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
    )
    if dialect == "postgresql":
        return upsert.returning(
            table.c.id,
            table.c.email_opt_out_at,
            func.nextval(func.pg_get_serial_sequence("leads", "id")),
            func.nextval(func.pg_get_serial_sequence("submissions", "id")),
        )
    return upsert.returning(table.c.id, table.c.email_opt_out_at)


@dataclass(frozen=True)
class StoredProspect:
    """The person a submission was stored for."""

    id: int
    #: They asked for no more email.
    opted_out: bool
    #: PostgreSQL: ids drawn for a new lead and the submission (lead id, submission id).
    drawn: tuple[int, int] | None = None


def upsert_prospect(
    session: Session, inquiry: Inquiry, consent: ConsentText | ConsentInfo, now: dt.datetime
) -> StoredProspect:
    """Insert the person or update them from this newer submission, atomically."""
    values = {
        "email_normalized": inquiry.email_normalized,
        "email": inquiry.email,
        "first_name": inquiry.first_name,
        "last_name": inquiry.last_name,
        "search_name": search_name(inquiry.first_name, inquiry.last_name),
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
    row = session.connection().execute(stmt, values).one_or_none()
    if row is None:
        by_email = select(Prospect.id, Prospect.email_opt_out_at).where(
            Prospect.email_normalized == inquiry.email_normalized
        )
        row = session.execute(by_email).one()
    got: tuple[Any, ...] = tuple(row)
    drawn = (int(got[2]), int(got[3])) if len(got) > 2 else None
    return StoredProspect(int(got[0]), got[1] is not None, drawn)


_LEAD_COLUMNS = (
    "public_id",
    "prospect_id",
    "program_id",
    "status",
    "owner_id",
    "last_confirmed_at",
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


def _routed(program: Program | ProgramInfo) -> bool:
    """Whether the program may have a routing team (a catalog copy knows; a row: look)."""
    return program.routed if isinstance(program, ProgramInfo) else True


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


@dataclass(frozen=True)
class NewLead:
    """The lead row a submission would create, and the routing turn it would take."""

    values: dict[str, Any]
    turn: routing.Turn | None

    @property
    def owner_id(self) -> int | None:
        """Who the new lead would go to (None: nobody, the team is told)."""
        owner: int | None = self.values["owner_id"]
        return owner


def plan_lead(
    session: Session,
    prospect_id: int,
    program: Program | ProgramInfo,
    evidence: Evidence,
    *,
    confirmed_at: dt.datetime | None = None,
    lead_id: int | None = None,
) -> NewLead:
    """The (prospect, program) lead to insert if there is none yet, routed to its owner.

    Routing locks the program's team first, so concurrent new leads take turns in order.
    A new lead's public id is drawn here; when a concurrent request created the lead
    first, this one's draw is discarded and the stored one comes back. `lead_id`: an id
    drawn for it beforehand (PostgreSQL), else the database picks one.
    """
    received = evidence.received_at
    workable = workable_time(evidence)
    utm = _utm(evidence)
    turn = routing.plan(session, program.id, prospect_id) if _routed(program) else None
    values: dict[str, Any] = {
        "public_id": new_public_id(),
        "prospect_id": prospect_id,
        "program_id": program.id,
        "status": "new",
        "owner_id": turn.owner_id if turn is not None else None,
        "last_confirmed_at": confirmed_at,
        "last_submitted_at": workable,
        "submission_count": 1,
        "utm_source": utm["utm_source"] or None,
        "utm_medium": utm["utm_medium"] or None,
        "utm_campaign": utm["utm_campaign"] or None,
        "created_at": received,
        "updated_at": workable,
    }
    if lead_id is not None:
        values["id"] = lead_id
    return NewLead(values, turn)


def upsert_lead(
    session: Session,
    prospect_id: int,
    program: Program | ProgramInfo,
    evidence: Evidence,
    *,
    confirmed_at: dt.datetime | None = None,
) -> tuple[int, str, LockedLead | None, int | None]:
    """Get the (prospect, program) lead with this submission counted; lock it for this transaction.

    INSERT ... ON CONFLICT DO NOTHING RETURNING, then, only when the lead already existed,
    SELECT ... FOR UPDATE: concurrent submissions for the same person and program wait for
    each other instead of creating twins. A row this transaction inserted is already locked
    (a concurrent insert of the same key waits on it), and its id comes back with the INSERT.
    Returns the lead's id, its public id, for a lead that already existed the lead (None:
    created), and the owner a new lead was routed to. `confirmed_at`: a new lead's
    confirmation time.

    The lead's clock (last_submitted_at: the queue's order and age, speed to lead) runs from
    when the request became workable (`workable_time`); its first request (created_at) and
    the rule that staff's later decisions stand go by when it was received.
    """
    new = plan_lead(session, prospect_id, program, evidence, confirmed_at=confirmed_at)
    stmt = _lead_insert(session.get_bind().dialect.name)
    lead_id: int | None = session.connection().execute(stmt, new.values).scalar_one_or_none()
    if lead_id is not None:
        if new.turn is not None:
            new.turn.take()  # only a new lead takes a turn: a returning request is not routed
        return lead_id, new.values["public_id"], None, new.owner_id
    return lock_existing_lead(session, prospect_id, program, evidence)


def lock_existing_lead(
    session: Session, prospect_id: int, program: Program | ProgramInfo, evidence: Evidence
) -> tuple[int, str, LockedLead, int | None]:
    """The (prospect, program) lead that exists, locked, with this submission counted."""
    received = evidence.received_at
    workable = workable_time(evidence)
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
    return lead.id, lead.public_id, LockedLead(lead, closed_since), lead.owner_id


#: At most one confirmation per person and program in this time.
CONFIRMATION_INTERVAL = dt.timedelta(hours=24)


def _event_rows(
    session: Session,
    inquiry: Inquiry,
    evidence: Evidence,
    *,
    lead_id: int,
    submission_id: int,
    existing: LockedLead | None,
    owner_id: int | None,
    reopened: bool,
    opted_out: bool,
    team: tuple[str, ...],
    served_url: str | None,
) -> list[dict[str, object]]:
    """The outbox events of a stored submission, with their recipients as they are now.

    The prospect is confirmed at most once per lead in CONFIRMATION_INTERVAL, and never
    after they asked for no more email (a new lead's confirmation time was set with it).
    """
    now = workable_time(evidence)
    # Routing loaded the owner already (no query); an existing lead's owner: one look-up.
    owner = session.get(StaffUser, owner_id) if owner_id is not None else None
    if existing is None:
        confirm = not opted_out
    else:
        last = existing.lead.last_confirmed_at
        confirm = not opted_out and (last is None or last <= now - CONFIRMATION_INTERVAL)
        if confirm:
            existing.lead.last_confirmed_at = now
    program = inquiry.program
    program_team = program.team_email
    confirmation = None
    if confirm:
        confirmation = outbox.Confirmation(
            to=inquiry.email,
            first_name=inquiry.first_name,
            program=program.name,
            program_summary=program.summary,
            counselor=owner.name if owner is not None and owner.active else None,
        )
    return outbox.lead_event_rows(
        created=existing is None,
        lead_id=lead_id,
        submission_id=submission_id,
        reopened=reopened,
        channel=evidence.channel,
        owner=owner,
        team=(program_team,) if program_team else team,
        confirmation=confirmation,
        now=now,
        served_url=served_url,
    )


def _submission_row(
    inquiry: Inquiry,
    evidence: Evidence,
    *,
    idempotency_key: str,
    consent: ConsentText | ConsentInfo,
    lead_id: int,
    prospect_id: int,
) -> dict[str, Any]:
    """The accepted submission's row: what was sent, the consent shown and the evidence."""
    sent = inquiry.as_submitted
    return {
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
        **_sms_opt_in_columns(inquiry.sms_opt_in),
        "consent": inquiry.consent,
        "consent_text_id": consent.id,
        "consent_version": consent.version,
        "consent_sha256": consent.sha256,
        "spam_verdict": "ok",
        "spam_reasons": "",
        **_evidence_columns(evidence),
    }


def _activity_row(
    lead_id: int, submission_id: int, kind: str, body: str, data: dict[str, Any], now: dt.datetime
) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "kind": kind,
        "actor_id": None,
        "submission_id": submission_id,
        "body": body,
        "data": data,
        "created_at": now,
    }


def _with_defaults(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """The row with the Python-side column defaults a Core INSERT would have added.

    An INSERT ... SELECT (the one-statement path) applies a callable default once per
    statement, not per row: each row gets its own here (an outbox event's id).
    """
    for column in table.c:
        default = column.default
        if column.name in row or default is None or not hasattr(default, "arg"):
            continue
        arg = default.arg
        row[column.name] = arg(None) if callable(arg) else arg
    return row


def _json_value(value: object) -> object:
    """A row value JSON cannot hold as is: timestamps as ISO 8601 in UTC (as UTCDateTime)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).isoformat()
    raise TypeError(f"{type(value).__name__} in a row")


def _json_rows(rows: object) -> str:
    return json.dumps(rows, default=_json_value, separators=(",", ":"))


@cache
def _new_lead_rows(
    lead: tuple[str, ...],
    submission: tuple[str, ...],
    activity: tuple[str, ...],
    events: tuple[str, ...],
) -> TextClause:
    """PostgreSQL: a new lead with its submission, activity and events, in one statement.

    WITH new_lead AS (INSERT ... ON CONFLICT DO NOTHING RETURNING id), then an INSERT ...
    SELECT ... FROM new_lead for each other table: when the lead already exists, nothing
    else is written and no row comes back (the caller then locks the existing lead). Each
    table's rows travel as one JSON parameter (json_populate_record, typed by the table
    itself) and every id was drawn beforehand, so no row waits for another's RETURNING.
    Four parameters and a short text: psycopg converts a query with more than 50
    parameters or 4 KB again on every call, which cost more than the two INSERTs it saves.
    The events are inserted in their order (lead.created before the confirmation): the
    worker sends them by id.
    """

    def names(columns: tuple[str, ...], prefix: str = "") -> str:
        return ", ".join(f'{prefix}"{name}"' for name in columns)

    # Names from the models, never from input; every value is a bound parameter.
    def after_lead(table: Table, columns: tuple[str, ...], param: str) -> str:
        return (
            f"INSERT INTO {table.name} ({names(columns)}) SELECT {names(columns, 'r.')} "  # noqa: S608
            f"FROM new_lead, json_populate_record(NULL::{table.name}, CAST(:{param} AS json)) AS r"
        )

    box = outbox.message_table()
    return text(
        f"WITH new_lead AS (INSERT INTO {Lead.__table__.name} ({names(lead)}) "  # noqa: S608
        f"SELECT {names(lead)} FROM json_populate_record(NULL::{Lead.__table__.name}, "
        "CAST(:lead AS json)) ON CONFLICT (prospect_id, program_id) DO NOTHING RETURNING id), "
        f"new_submission AS ({after_lead(Submission.__table__, submission, 'submission')}), "
        f"new_activity AS ({after_lead(Activity.__table__, activity, 'activity')}), "
        f"new_events AS (INSERT INTO {box.name} ({names(events)}) SELECT {names(events, 'r.')} "
        f"FROM new_lead, json_populate_recordset(NULL::{box.name}, CAST(:events AS json)) "
        "WITH ORDINALITY AS r ORDER BY r.ordinality) "
        "SELECT id FROM new_lead"
    )


def _insert_new_lead_rows(
    conn: Connection,
    new: NewLead,
    submission: dict[str, Any],
    activity: dict[str, Any],
    events: list[dict[str, object]],
) -> bool:
    """Write a new lead and its rows in one statement (PostgreSQL); False: the lead exists."""
    box = outbox.message_table()
    rows = [_with_defaults(box, dict(row)) for row in events]
    columns = tuple(rows[0]) if rows else ("kind",)
    stmt = _new_lead_rows(tuple(new.values), tuple(submission), tuple(activity), columns)
    params = {
        "lead": _json_rows(new.values),
        "submission": _json_rows(submission),
        "activity": _json_rows(activity),
        "events": _json_rows(rows),
    }
    return conn.execute(stmt, params).first() is not None


def record_submission(
    session: Session,
    inquiry: Inquiry,
    evidence: Evidence,
    *,
    idempotency_key: str,
    consent: ConsentText | ConsentInfo,
    notify: bool = True,
    team: tuple[str, ...] = (),
    served_url: str | None = None,
) -> Outcome:
    """Store an accepted submission: prospect, lead, submission, activity and outbox events.

    notify=False leaves out the outbox events (made-up history must not reach anyone).
    `team`: the addresses told about a lead nobody owns (the program's team address wins).
    served_url goes on the events for the links in their mail (outbox.link_base).
    The new rows are written with Core INSERTs, not ORM objects: on the submit path the
    unit of work cost more than the statements. Only an existing lead is an ORM object.
    On PostgreSQL a new lead, its submission, activity and events are one statement
    (after the person's upsert, which draws their ids): two statements for a new person.
    """
    # The person's details go by when they were sent (an older request never overwrites
    # newer ones); the lead's timeline, clock and notification by when it became workable.
    prospect = upsert_prospect(session, inquiry, consent, evidence.received_at)
    prospect_id, opted_out = prospect.id, prospect.opted_out
    now = workable_time(evidence)
    confirmed_at = now if notify and not opted_out else None
    program = inquiry.program
    conn = session.connection()

    def events(lead_id: int, submission_id: int, **kw: Any) -> list[dict[str, object]]:
        if not notify:
            return []
        return _event_rows(
            session,
            inquiry,
            evidence,
            lead_id=lead_id,
            submission_id=submission_id,
            opted_out=opted_out,
            team=team,
            served_url=served_url,
            **kw,
        )

    existing: LockedLead | None
    # The request's row, whichever way it is written; its lead_id is set once it is known.
    submission = _submission_row(
        inquiry,
        evidence,
        idempotency_key=idempotency_key,
        consent=consent,
        lead_id=0,
        prospect_id=prospect_id,
    )
    if prospect.drawn is not None:
        lead_id, submission_id = prospect.drawn
        new = plan_lead(
            session, prospect_id, program, evidence, confirmed_at=confirmed_at, lead_id=lead_id
        )
        submission["id"], submission["lead_id"] = submission_id, lead_id
        created_rows = events(
            lead_id, submission_id, existing=None, owner_id=new.owner_id, reopened=False
        )
        activity = _activity_row(
            lead_id,
            submission_id,
            SUBMITTED,
            f"Requested information ({evidence.channel}).",
            {},
            now,
        )
        if _insert_new_lead_rows(conn, new, submission, activity, created_rows):
            if new.turn is not None:
                new.turn.take()  # only a new lead takes a turn: a returning request is not routed
            return Outcome(
                submission_id=submission_id,
                lead_id=lead_id,
                lead_public_id=new.values["public_id"],
                lead_created=True,
            )
        lead_id, lead_public_id, existing, owner_id = lock_existing_lead(
            session, prospect_id, program, evidence
        )
        submission["lead_id"] = lead_id
        conn.execute(_plain_insert(Submission.__table__), submission)
    else:
        lead_id, lead_public_id, existing, owner_id = upsert_lead(
            session, prospect_id, program, evidence, confirmed_at=confirmed_at
        )
        submission["lead_id"] = lead_id
        submission_id = conn.execute(
            _plain_insert(Submission.__table__, returning_id=True), submission
        ).scalar_one()
    lead = existing.lead if existing is not None else None

    reopened = False
    if lead is None:
        body = f"Requested information ({evidence.channel})."
        activities = [_activity_row(lead_id, submission_id, SUBMITTED, body, {}, now)]
    else:
        body = f"Requested information again ({evidence.channel})."
        activities = [_activity_row(lead_id, submission_id, RESUBMITTED, body, {}, now)]
        # Reopened by a request newer than the status decision: an older one (a spam hold
        # released later) must not undo a decision staff made after it arrived.
        if lead.status in CLOSED_STATUSES and existing is not None and not existing.closed_since:
            activities.append(
                _activity_row(
                    lead_id,
                    submission_id,
                    STATUS_CHANGED,
                    f"Reopened by a new request (was {lead.status}).",
                    {"from": lead.status, "to": "new"},
                    now,
                )
            )
            lead.status = "new"
            # The speed-to-lead clock restarts for the new request; the timeline keeps the history.
            lead.first_contacted_at = None
            reopened = True
    conn.execute(
        _plain_insert(Activity.__table__), activities[0] if len(activities) == 1 else activities
    )
    rows = events(lead_id, submission_id, existing=existing, owner_id=owner_id, reopened=reopened)
    if rows:
        conn.execute(_plain_insert(outbox.message_table()), rows)
    if lead is not None:
        session.flush()  # the existing lead's count, time and status
    return Outcome(
        submission_id=submission_id,
        lead_id=lead_id,
        lead_public_id=lead_public_id,
        lead_created=lead is None,
        reopened=reopened,
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
        **_sms_opt_in_columns(checked(raw.get("sms_opt_in"))),
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
