"""The lead queue: filters, search, tab counts and keyset pagination (no OFFSET).

Pages are read by keyset: "the next 50 rows after (last_submitted_at, id) = (x, y)" is a range scan
on an index that matches the sort, so page 400 costs what page 1 does. Services only read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    false,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from ...models import Lead, Program, Prospect, StaffUser
from ...vocab import CLOSED_STATUSES, LEAD_STATUSES
from .. import audit
from ..audit import Actor
from .permissions import has_role
from .search import fold, fold_email

#: Sort orders offered in the queue, with their labels.
SORTS: dict[str, str] = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "follow_up": "Next follow-up",
}
#: Filter parameters that live in the queue's query string (and nothing else does).
FILTER_ARGS: tuple[str, ...] = (
    "q",
    "status",
    "owner",
    "program",
    "received_from",
    "received_to",
    "source",
    "medium",
    "campaign",
    "overdue",
    "sort",
)
#: The status filter's value for every lead not in a closed status (vocab.CLOSED_STATUSES).
OPEN = "open"
MAX_SEARCH_TERMS = 4
#: Row ids are 32-bit integers on PostgreSQL: a cursor holding a larger one is garbled.
_MAX_ID = 2**31 - 1
_PHONE_CHARS = re.compile(r"^[\d\s()+.\-]+$")


@dataclass(frozen=True)
class QueueFilters:
    """What the queue shows (owner: a staff user's id; unassigned: leads with no owner).

    status: one status, or OPEN for every status but the closed ones.
    """

    status: str | None = None
    owner: int | None = None
    unassigned: bool = False
    program_id: int | None = None
    # The latest request (Lead.last_submitted_at), inclusive, as days in `tz` (staff time).
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    tz: dt.tzinfo = dt.UTC
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    search: str = ""
    overdue: bool = False
    sort: str = "newest"


@dataclass(frozen=True)
class Viewer:
    """Whose queue this is: counselors see their own leads and the unassigned ones."""

    user_id: int
    sees_all: bool


@dataclass(frozen=True)
class _Key:
    """One column of a sort key and its direction."""

    name: str
    descending: bool


@dataclass(frozen=True)
class _Segment:
    """A run of rows in one index order; a sort is one or more segments one after another."""

    keys: tuple[_Key, ...]
    only: str | None = None  # "has_follow_up" / "no_follow_up"


# "Received" is the latest request: a prospect who asks again (and a lead reopened by it)
# comes back to the top of the queue instead of staying where it first arrived.
_NEWEST = (_Key("last_submitted_at", True), _Key("id", True))
_SEGMENTS: dict[str, tuple[_Segment, ...]] = {
    "newest": (_Segment(_NEWEST),),
    "oldest": (_Segment((_Key("last_submitted_at", False), _Key("id", False))),),
    # Leads with a follow-up date come first, soonest first; a NULL has no place in a keyset
    # comparison, so the leads without one follow as a second segment, newest first.
    "follow_up": (
        _Segment((_Key("next_follow_up_at", False), _Key("id", False)), "has_follow_up"),
        _Segment(_NEWEST, "no_follow_up"),
    ),
}


@dataclass(frozen=True)
class Cursor:
    """A position in one sort: the segment and the sort-key values of a row."""

    sort: str
    segment: int
    values: tuple[Any, ...]

    def encode(self) -> str:
        """An opaque, URL-safe token for the query string."""
        values = [v.isoformat() if isinstance(v, dt.datetime) else v for v in self.values]
        raw = json.dumps([self.sort, self.segment, values], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None, sort: str) -> Cursor | None:
        """The cursor in a token, or None when it is missing, garbled or for another sort."""
        if not token or len(token) > 300:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            name, segment, values = json.loads(raw)
            if name != sort or type(segment) is not int:
                return None
            if not 0 <= segment < len(_SEGMENTS[sort]):
                return None
            keys = _SEGMENTS[sort][segment].keys
            if len(values) != len(keys):
                return None
            parsed = tuple(
                _parse_key_value(key.name, value) for key, value in zip(keys, values, strict=True)
            )
        except (ValueError, TypeError, KeyError, IndexError, binascii.Error):
            return None
        return cls(sort, segment, parsed)


def _parse_key_value(name: str, value: Any) -> Any:
    if name == "id":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_ID:
            raise ValueError("bad id")
        return value
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("naive time")
    try:
        # The database compares in UTC: a time at the calendar's ends has no UTC value.
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("time out of range") from None


@dataclass(frozen=True)
class Page:
    """One page of queue rows and the cursors around it."""

    rows: list[Row[Any]]
    next_cursor: str | None
    prev_cursor: str | None
    is_first: bool


@dataclass
class TabCounts:
    """Lead counts per tab; a count above the cap means "more than the cap"."""

    cap: int
    by_status: dict[str, int] = field(default_factory=dict)
    all: int = 0
    open: int = 0  # every status but the closed ones
    mine: int = 0
    unassigned: int = 0
    overdue: int = 0

    def show(self, n: int) -> str:
        """A count as shown on a tab: "1,234", or "10,000+" above the cap."""
        return f"{self.cap:,}+" if n > self.cap else f"{n:,}"


def phone_candidates(text: str, default_country: str = "US") -> list[str]:
    """E.164 numbers a search may mean: "(317) 555-0123" and "+1 317 555 0123" are one number."""
    if not _PHONE_CHARS.match(text):
        return []
    digits = re.sub(r"\D", "", text)
    if len(digits) < 7 or len(digits) > 15:
        return []
    found = {"+" + digits}
    try:
        number = phonenumbers.parse(text, default_country)
        found.add(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    except phonenumbers.NumberParseException:
        pass
    return sorted(found)


def _search_condition(
    text: str, default_country: str, dialect: str = "sqlite"
) -> ColumnElement[bool] | None:
    """Phone numbers match exactly (any format); emails by their start; words by the start
    of any word of the name or the start of the email, without regard to accents or case.

    On PostgreSQL a word of three letters or more also matches inside a name ("guyen" finds
    Nguyễn), through the trigram index on the folded names. Results keep the queue's order
    (by date): ranking better matches first would break its keyset pages.
    """
    text = text.strip()
    if not text:
        return None
    phones = phone_candidates(text, default_country)
    if phones:
        return Prospect.phone.in_(phones)
    if "@" in text:
        typed, folded = text.casefold(), fold_email(text)
        return or_(
            *(
                Prospect.email_normalized.startswith(term, autoescape=True)
                for term in dict.fromkeys((typed, folded))
            )
        )
    terms = [term for term in fold(text).split() if term][:MAX_SEARCH_TERMS]
    if not terms:
        return false()  # only punctuation ("-", "'"): nobody's name is that
    conditions = []
    for term in terms:
        # Inside a word only from three letters on (the trigram index needs a trigram:
        # "%jo%" would read all of it); the leading space makes any term a word start.
        inside = dialect == "postgresql" and len(term) >= 3
        in_name = Prospect.search_name.contains(term if inside else " " + term, autoescape=True)
        email = Prospect.email_normalized.startswith(fold_email(term), autoescape=True)
        conditions.append(or_(in_name, email))
    # Find the matching people first (trigram index), then their leads. Left to itself
    # PostgreSQL may instead walk the queue's sort index and test every person on the way:
    # 1.5 s at a million leads when the matches are old. MATERIALIZED fences that.
    matches = select(Prospect.id).where(and_(*conditions)).cte().prefix_with("MATERIALIZED")
    return Lead.prospect_id.in_(select(matches.c.id))


_START_OF_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)
_END_OF_TIME = dt.datetime.max.replace(tzinfo=dt.UTC)


def _day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The UTC moment a day begins in `tz`; days beyond the calendar's ends clamp to them."""
    try:
        return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)
    except OverflowError:  # forms refuse such years; a caller that doesn't still gets no 500
        return _START_OF_TIME if day.year < 5000 else _END_OF_TIME


def _day_end(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The UTC moment the day after `day` begins in `tz` (the exclusive end of a date range)."""
    return _day_start(day + dt.timedelta(days=1), tz) if day < dt.date.max else _END_OF_TIME


def _conditions(
    filters: QueueFilters,
    viewer: Viewer,
    now: dt.datetime,
    *,
    default_country: str = "US",
    skip: frozenset[str] = frozenset(),
    scope: ColumnElement[bool] | None = None,
    dialect: str = "sqlite",
) -> list[ColumnElement[bool]]:
    """WHERE clauses for the filters (minus those named in skip) and the viewer's scope.

    A counselor's scope is "mine or unassigned"; `scope` may narrow it to one of the two.
    """
    where: list[ColumnElement[bool]] = []
    if not viewer.sees_all:
        # Object-level privacy: never rely on the filters alone to hide other people's leads.
        if scope is None:
            scope = or_(Lead.owner_id == viewer.user_id, Lead.owner_id.is_(None))
        where.append(scope)
    if filters.status == OPEN and "status" not in skip:
        where.append(Lead.status.not_in(sorted(CLOSED_STATUSES)))
    elif filters.status and "status" not in skip:
        where.append(Lead.status == filters.status)
    if "owner" not in skip:
        if filters.unassigned:
            where.append(Lead.owner_id.is_(None))
        elif filters.owner is not None:
            where.append(Lead.owner_id == filters.owner)
    if filters.program_id is not None:
        where.append(Lead.program_id == filters.program_id)
    if filters.received_from:
        where.append(Lead.last_submitted_at >= _day_start(filters.received_from, filters.tz))
    if filters.received_to:
        where.append(Lead.last_submitted_at < _day_end(filters.received_to, filters.tz))
    for column, value in (
        (Lead.utm_source, filters.utm_source),
        (Lead.utm_medium, filters.utm_medium),
        (Lead.utm_campaign, filters.utm_campaign),
    ):
        if value:
            where.append(column == value)
    if filters.overdue and "overdue" not in skip:
        where.append(Lead.next_follow_up_at < now)
    search = _search_condition(filters.search, default_country, dialect)
    if search is not None:
        where.append(search)
    return where


#: What a queue row carries (the export adds more).
ROW_COLUMNS = (
    Lead.id,
    Lead.created_at,
    Lead.last_submitted_at,
    Lead.status,
    Lead.owner_id,
    Lead.program_id,
    Lead.first_contacted_at,
    Lead.next_follow_up_at,
    Prospect.first_name,
    Prospect.last_name,
    Prospect.email,
    Prospect.phone,
)


def _dialect(session: Session) -> str:
    """The database's dialect name: search matches inside names only where indexed."""
    return session.get_bind().dialect.name


def _base(columns: Sequence[Any], where: list[ColumnElement[bool]]) -> Select[Any]:
    return select(*columns).join(Prospect, Prospect.id == Lead.prospect_id).where(*where)


def _segment_stmt(
    base: Select[Any], segment: _Segment, after: tuple[Any, ...] | None, backwards: bool
) -> Select[Any]:
    """Rows of one segment in its order (or reversed), after the given key values."""
    stmt = base
    if segment.only == "has_follow_up":
        stmt = stmt.where(Lead.next_follow_up_at.is_not(None))
    elif segment.only == "no_follow_up":
        stmt = stmt.where(Lead.next_follow_up_at.is_(None))
    columns = [getattr(Lead, key.name) for key in segment.keys]
    # Every key of a segment runs the same direction, so one row comparison is the keyset
    # condition; it is what lets the database start the index scan at the cursor.
    descending = segment.keys[0].descending != backwards
    if after is not None:
        bound = tuple_(
            *(bindparam(None, v, type_=c.type) for c, v in zip(columns, after, strict=True))
        )
        key = tuple_(*columns)
        stmt = stmt.where(key < bound if descending else key > bound)
    return stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))


def _cursor_of(sort: str, segment: int, row: Row[Any]) -> Cursor:
    keys = _SEGMENTS[sort][segment].keys
    return Cursor(sort, segment, tuple(getattr(row, key.name) for key in keys))


def fetch_page(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    *,
    now: dt.datetime,
    size: int,
    after: str | None = None,
    before: str | None = None,
    columns: Sequence[Any] = ROW_COLUMNS,
    default_country: str = "US",
) -> Page:
    """One page of the queue after (or before) a cursor; the first page without either."""
    sort = filters.sort if filters.sort in SORTS else "newest"
    segments = _SEGMENTS[sort]
    where = _conditions(
        filters, viewer, now, default_country=default_country, dialect=_dialect(session)
    )
    base = _base(columns, where)
    start = Cursor.decode(before, sort)
    backwards = start is not None
    if not backwards:
        start = Cursor.decode(after, sort)
    order = range(len(segments))
    if start is not None:
        order = range(start.segment, -1, -1) if backwards else range(start.segment, len(segments))
    elif backwards:
        order = range(0)
    found: list[tuple[int, Row[Any]]] = []
    for index in order:
        if filters.overdue and segments[index].only == "no_follow_up":
            # Overdue means a follow-up date in the past: nothing without one can match, and
            # asking would walk every such lead to find none.
            continue
        values = start.values if start is not None and index == start.segment else None
        stmt = _segment_stmt(base, segments[index], values, backwards).limit(size + 1 - len(found))
        found.extend((index, row) for row in session.execute(stmt))
        if len(found) > size:
            break
    more = len(found) > size
    found = found[:size]
    if backwards:
        found.reverse()
        has_prev, has_next = more, True
    else:
        has_prev, has_next = start is not None, more
    if not found:
        return Page([], None, None, is_first=not has_prev)
    return Page(
        rows=[row for _, row in found],
        next_cursor=_cursor_of(sort, *found[-1]).encode() if has_next else None,
        prev_cursor=_cursor_of(sort, *found[0]).encode() if has_prev else None,
        is_first=not has_prev,
    )


def _counted(stmt: Select[Any], filters: QueueFilters) -> Select[Any]:
    """Join the prospect only when the search needs it: counts then stay on lead indexes."""
    if filters.search.strip():
        return stmt.join(Prospect, Prospect.id == Lead.prospect_id)
    return stmt


def count(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    *,
    now: dt.datetime,
    default_country: str = "US",
) -> int:
    """The exact number of leads the filters select (for the export's audit record)."""
    where = _conditions(
        filters, viewer, now, default_country=default_country, dialect=_dialect(session)
    )
    stmt = _counted(select(func.count()).select_from(Lead), filters).where(*where)
    return int(session.execute(stmt).scalar_one())


def tab_counts(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    *,
    now: dt.datetime,
    cap: int,
    default_country: str = "US",
) -> TabCounts:
    """Counts for each tab under the other filters, each capped, in one round trip.

    Each count reads at most cap + 1 index entries: "1,000+" tells a person as much as an
    exact 412,377, and an exact count over a million rows is not a 50 ms query. "All" is
    the sum of the status counts (above the cap when any of them is).
    """
    # A counselor's "mine or unassigned" is counted as two disjoint parts: each is then a
    # plain index range that LIMIT stops early, where an OR would need a full bitmap.
    scopes: list[ColumnElement[bool] | None] = [None]
    if not viewer.sees_all:
        scopes = [Lead.owner_id == viewer.user_id, Lead.owner_id.is_(None)]
    conditions: dict[tuple[frozenset[str], int], list[ColumnElement[bool]]] = {}

    def capped(label: str, extra: ColumnElement[bool], skip: frozenset[str]) -> Any:
        counts = []
        for index, scope in enumerate(scopes):
            key = (skip, index)
            if key not in conditions:
                conditions[key] = _conditions(
                    filters,
                    viewer,
                    now,
                    default_country=default_country,
                    skip=skip,
                    scope=scope,
                    dialect=_dialect(session),
                )
            limited = (
                _counted(select(literal_column("1")).select_from(Lead), filters)
                .where(*conditions[key], extra)
                .limit(cap + 1)
                .subquery()
            )
            counts.append(select(func.count()).select_from(limited).scalar_subquery())
        return (counts[0] if len(counts) == 1 else counts[0] + counts[1]).label(label)

    status_skip, owner_skip = frozenset({"status"}), frozenset({"owner"})
    columns = [capped(s, Lead.status == s, status_skip) for s in LEAD_STATUSES]
    columns.append(capped("mine", Lead.owner_id == viewer.user_id, owner_skip))
    columns.append(capped("unassigned", Lead.owner_id.is_(None), owner_skip))
    columns.append(capped("overdue", Lead.next_follow_up_at < now, frozenset({"overdue"})))
    row = session.execute(select(*columns)).one()._mapping
    counts = TabCounts(cap=cap, by_status={s: row[s] for s in LEAD_STATUSES})
    counts.mine, counts.unassigned, counts.overdue = row["mine"], row["unassigned"], row["overdue"]
    counts.all = sum(counts.by_status.values())
    counts.open = sum(n for s, n in counts.by_status.items() if s not in CLOSED_STATUSES)
    return counts


def neighbours(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    lead: Lead,
    *,
    now: dt.datetime,
    default_country: str = "US",
) -> tuple[int | None, int | None]:
    """The ids of the leads just before and after this one in the queue these filters and
    sort show (None at either end), as far as the viewer may see them.

    Keyset neighbours: the lead's own sort key is the cursor, so each is one short range
    scan (LIMIT 2) on the index the queue page uses, and they are found whether or not the
    lead still matches the filters (a status just changed may have taken it out of view).
    """
    sort = filters.sort if filters.sort in SORTS else "newest"
    segments = _SEGMENTS[sort]
    segment = 0
    for index, candidate in enumerate(segments):
        has_date = lead.next_follow_up_at is not None
        if candidate.only is None or (candidate.only == "has_follow_up") == has_date:
            segment = index
            break
    here = Cursor(sort, segment, tuple(getattr(lead, key.name) for key in segments[segment].keys))
    token = here.encode()

    def one(after: str | None = None, before: str | None = None) -> int | None:
        page = fetch_page(
            session,
            filters,
            viewer,
            now=now,
            size=1,
            after=after,
            before=before,
            columns=(Lead.id, Lead.last_submitted_at, Lead.next_follow_up_at),
            default_country=default_country,
        )
        return page.rows[0].id if page.rows else None

    return one(before=token), one(after=token)


@dataclass(frozen=True)
class Directory:
    """Programs and staff by id, loaded once per request for labels and filter choices."""

    programs: list[Program]
    staff: list[StaffUser]

    @classmethod
    def load(cls, session: Session) -> Directory:
        """Every program and staff user (a few dozen rows)."""
        programs = list(session.scalars(select(Program).order_by(Program.name)))
        staff = list(session.scalars(select(StaffUser).order_by(StaffUser.name)))
        return cls(programs, staff)

    def program_names(self) -> dict[int, str]:
        """Program name by id."""
        return {p.id: p.name for p in self.programs}

    def staff_names(self) -> dict[int, str]:
        """Staff name by id."""
        return {u.id: u.name for u in self.staff}


def view_queue(
    session: Session,
    filters: QueueFilters,
    actor: Actor,
    *,
    now: dt.datetime,
    size: int,
    cap: int,
    after: str | None,
    before: str | None,
    default_country: str,
    shown_filters: dict[str, str],
) -> tuple[Page, TabCounts]:
    """One page of the actor's queue and its tab counts; the view is audited."""
    viewer = viewer_of(actor)
    page = fetch_page(
        session,
        filters,
        viewer,
        now=now,
        size=size,
        after=after,
        before=before,
        default_country=default_country,
    )
    counts = tab_counts(session, filters, viewer, now=now, cap=cap, default_country=default_country)
    audit.record(
        session,
        "queue.viewed",
        actor,
        filters=shown_filters,
        first_page=page.is_first,
        rows=len(page.rows),
    )
    return page, counts


def viewer_of(actor: Actor) -> Viewer:
    """Whose queue the actor sees: counselors their own and unassigned leads, managers all."""
    user = actor.staff
    return Viewer(user_id=user.id, sees_all=has_role(user, "manager"))
