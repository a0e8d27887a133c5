"""CSV export of the queue: streamed in keyset batches, spreadsheet-formula safe.

The file is for Excel and for dialers: UTF-8 with a byte order mark (so Excel on Windows
reads accents), every cell quoted, times in the staff time zone as ISO 8601 with their
offset, phone numbers in E.164. No cell can start a formula, whichever separator the
spreadsheet splits on (`,` here; `;` in many locales; a tab).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ...models import ConsentText, Lead, Prospect, Submission
from ..intake.validation import EDUCATION_LEVELS, MILITARY_AFFILIATIONS, start_term_label
from . import queue

#: Rows per query: big enough that round trips don't dominate, small enough to stay flat in memory.
BATCH_SIZE = 1000

#: Starts the file: Excel on Windows reads it as UTF-8 only then (else "GÃ³mez").
BOM = "\ufeff"

HEADER: tuple[str, ...] = (
    "lead_id",
    "first_received_at",
    "last_received_at",
    "status",
    "owner",
    "program",
    "first_name",
    "last_name",
    "email",
    "phone",
    "postal_code",
    "country",
    "sms_opt_in",
    "consent_version",
    "start_term",
    "education_level",
    "military",
    "comments",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "first_contacted_at",
    "next_follow_up_at",
    "submissions",
    "email_opt_out_at",
)

EXPORT_COLUMNS = (
    *queue.ROW_COLUMNS,
    Prospect.postal_code,
    Prospect.country,
    Prospect.sms_opt_in,
    Prospect.consent_text_id,
    Lead.utm_source,
    Lead.utm_medium,
    Lead.utm_campaign,
    Lead.submission_count,
    Prospect.email_opt_out_at,
)

# A spreadsheet treats a cell starting with one of these as a formula (or, for tab, CR
# and LF, may shift it into one); a leading apostrophe makes it plain text.
_FORMULA_STARTS = frozenset("=+-@\t\r\n")
# The same after spaces or quotes, which an import may trim.
_PADDING = frozenset(' "\v\f\u00a0')
_HIDDEN_FORMULA = re.compile(r'[\s"]+[=+\-@]')
# A spreadsheet that splits lines on another separator than ours (";" in many European
# locales, a tab) starts a new cell after it, inside our quotes or not: "cpc;+1+1" would
# become "cpc" and the formula "+1+1". An apostrophe after such a separator makes that
# cell text too; split on "," as written, the cell reads "cpc;'+1+1".
_SPLIT_FORMULA = re.compile(r'([,;\t\r\n])(?=[\s"]*[=+\-@])')
# A phone number as stored (validated E.164): digits after a "+", no formula possible.
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def neutralize(value: object) -> str:
    """The cell as text that no spreadsheet will evaluate, whatever separator it splits on."""
    if value is None:
        return ""
    cell = value if type(value) is str else str(value)
    if _SPLIT_FORMULA.search(cell):  # rare: search first, substitute only then
        cell = _SPLIT_FORMULA.sub(r"\1'", cell)
    first = cell[:1]
    if first in _FORMULA_STARTS or (first in _PADDING and _HIDDEN_FORMULA.match(cell)):
        return "'" + cell
    return cell


def csv_lines(rows: Iterable[Iterable[object]]) -> str:
    """The rows as CSV text, every cell quoted and neutralized."""
    return _write([neutralize(cell) for cell in row] for row in rows)


def _write(rows: Iterable[Sequence[object]]) -> str:
    """Rows whose cells are safe already as CSV text, every cell quoted."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows(rows)
    return buffer.getvalue()


def header() -> str:
    """The start of the file: the byte order mark and the header line."""
    return BOM + csv_lines([HEADER])


@dataclass(frozen=True)
class Request:
    """What the lead's latest request said beyond the person's details."""

    start_term: str
    education_level: str
    military: str
    comments: str


@dataclass(frozen=True)
class Labels:
    """Names for the ids and codes in the rows, loaded once per export (a few dozen rows)."""

    programs: Mapping[int, str]
    staff: Mapping[int, str]
    consent_versions: Mapping[int, int]
    tz: dt.tzinfo

    @classmethod
    def load(
        cls,
        session: Session,
        programs: Mapping[int, str],
        staff: Mapping[int, str],
        tz: dt.tzinfo,
    ) -> Labels:
        """Labels with the consent texts' versions read from the database."""
        rows = session.execute(select(ConsentText.id, ConsentText.version))
        versions = {consent_id: version for consent_id, version in rows}
        return cls(programs, staff, versions, tz)


_NOTHING_ASKED = Request("", "", "", "")
_EDUCATION = dict(EDUCATION_LEVELS)
_MILITARY = dict(MILITARY_AFFILIATIONS)


def _when(value: dt.datetime | None, tz: dt.tzinfo) -> str:
    """ "2026-03-01T14:30:00-05:00": staff time, with its offset, to the second."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else ""


def _phone(value: str | None) -> str:
    """A stored phone number as it is: validated E.164 holds no formula, and an apostrophe
    would keep a dialer from reading it (anything else is neutralized all the same)."""
    if not value:
        return ""
    return value if _E164.fullmatch(value) else neutralize(value)


def _cells(row: Any, request: Request | None, labels: Labels) -> list[object]:
    """One lead's cells, ready to write: text anyone typed is neutralized here; what this
    module writes itself (ids, counts, times, yes/no, E.164 numbers) cannot hold a formula."""
    # Unpacked by position (the order of EXPORT_COLUMNS): a million rows add up.
    (
        lead_id,
        first_received,
        last_received,
        status,
        owner_id,
        program_id,
        contacted,
        follow_up,
        first_name,
        last_name,
        email,
        phone,
        postal_code,
        country,
        sms_opt_in,
        consent_text_id,
        source,
        medium,
        campaign,
        submissions,
        email_opt_out,
    ) = row
    tz = labels.tz
    asked = request or _NOTHING_ASKED
    text = neutralize
    return [
        lead_id,
        _when(first_received, tz),
        _when(last_received, tz),
        text(status),
        text(labels.staff.get(owner_id, "")) if owner_id else "",
        text(labels.programs.get(program_id, "")),
        text(first_name),
        text(last_name),
        text(email),
        _phone(phone),
        text(postal_code),
        text(country),
        "yes" if sms_opt_in else "no",
        labels.consent_versions.get(consent_text_id, "") if consent_text_id else "",
        text(start_term_label(asked.start_term)) if asked.start_term else "",
        text(_EDUCATION.get(asked.education_level, asked.education_level)),
        text(_MILITARY.get(asked.military, asked.military)),
        text(asked.comments),
        text(source),
        text(medium),
        text(campaign),
        _when(contacted, tz),
        _when(follow_up, tz),
        submissions,
        _when(email_opt_out, tz),
    ]


def latest_requests(session: Session, lead_ids: Sequence[int]) -> dict[int, Request]:
    """The latest request (by the time it was sent) of each of these leads, in one query.

    One query per batch, never one per row: the leads' submissions by their lead_id index
    (about 1.2 per lead), newest first within each lead; the first of each lead is kept.
    """
    if not lead_ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: a thousand separate IN parameters cost 30 ms a batch to
        # send and plan, the array 5 (measured at a million leads).
        ids = bindparam("lead_ids", list(lead_ids), type_=postgresql.ARRAY(Integer))
        of_these_leads = Submission.lead_id == any_(ids)
    else:
        of_these_leads = Submission.lead_id.in_(lead_ids)
    stmt = (
        select(
            Submission.lead_id,
            Submission.start_term,
            Submission.education_level,
            Submission.military,
            Submission.comments,
        )
        .where(of_these_leads)
        .order_by(Submission.lead_id, Submission.received_at.desc(), Submission.id.desc())
    )
    latest: dict[int, Request] = {}
    for row in session.execute(stmt):
        if row.lead_id not in latest:
            latest[row.lead_id] = Request(
                row.start_term, row.education_level, row.military, row.comments
            )
    return latest


Batch = list[tuple[Any, Request | None]]


def batches(
    session: Session,
    filters: queue.QueueFilters,
    viewer: queue.Viewer,
    *,
    now: dt.datetime,
    default_country: str,
    batch_size: int | None = None,
) -> Iterator[Batch]:
    """Yield the export's rows a batch at a time, walking the queue's keyset pages; each row
    with its lead's latest request (one more query per batch).

    Memory stays at one batch whatever the total. The caller ends the read transaction
    after each batch (the one documented commit outside a request's single commit), so a
    long download holds no snapshot on PostgreSQL and no lock on SQLite; this function
    never commits.
    """
    size = batch_size or BATCH_SIZE
    cursor: str | None = None
    # Looked up once: every batch walks the same people in the same rank order.
    search = queue.resolve_search(
        session, filters.search, default_country=default_country, viewer=viewer
    )
    while True:
        # Each batch is its own transaction (the caller commits between them).
        queue.without_parallel_workers(session)
        page = queue.fetch_page(
            session,
            filters,
            viewer,
            now=now,
            size=size,
            after=cursor,
            columns=EXPORT_COLUMNS,
            search=search,
        )
        requests = latest_requests(session, [row[0] for row in page.rows])
        yield [(row, requests.get(row[0])) for row in page.rows]
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def rows_csv(batch: Batch, labels: Labels) -> str:
    """One batch of rows as CSV text."""
    return _write([_cells(row, request, labels) for row, request in batch])
