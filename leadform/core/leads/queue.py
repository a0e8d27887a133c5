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
    ARRAY,
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    any_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from ...models import Lead, Program, Prospect, StaffUser
from ...vocab import CLOSED_STATUSES, LEAD_STATUSES
from .. import audit
from ..audit import Actor
from .permissions import has_role
from .search import fold, fold_email, match_rank

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
    #: How many ranks the walk has (0: not a ranked search; see `Search`).
    ranks: int = 0

    def encode(self) -> str:
        """An opaque, URL-safe token for the query string."""
        values = [v.isoformat() if isinstance(v, dt.datetime) else v for v in self.values]
        fields: list[Any] = [self.sort, self.segment, values]
        if self.ranks:
            fields.append(self.ranks)
        raw = json.dumps(fields, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None, sort: str, ranks: int = 0) -> Cursor | None:
        """The cursor in a token, or None when it is missing, garbled, for another sort, or
        for a walk with other ranks (a search that crossed RANKED_MATCHES between pages).

        A ranked search walks the sort's segments once per rank: segment `n` of a sort with
        `k` segments is rank `n // k`, segment `n % k`.
        """
        if not token or len(token) > 300:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            name, segment, values, *rest = json.loads(raw)
            if name != sort or type(segment) is not int or rest != ([ranks] if ranks else []):
                return None
            per_rank = len(_SEGMENTS[sort])
            if not 0 <= segment < per_rank * max(ranks, 1):
                return None
            keys = _SEGMENTS[sort][segment % per_rank].keys
            if len(values) != len(keys):
                return None
            parsed = tuple(
                _parse_key_value(key.name, value) for key, value in zip(keys, values, strict=True)
            )
        except (ValueError, TypeError, KeyError, IndexError, binascii.Error):
            return None
        return cls(sort, segment, parsed, ranks)


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


@dataclass(frozen=True)
class TabCounts:
    """Lead counts per tab; a count above the cap means "more than the cap"."""

    cap: int
    by_status: dict[str, int] = field(default_factory=dict)
    mine: int = 0
    unassigned: int = 0
    overdue: int = 0
    #: Not counted: the search matched more than this many people (0: counted).
    too_many_people: int = 0

    @property
    def all(self) -> int:
        """Every status's leads (above the cap when any status's count is)."""
        return sum(self.by_status.values())

    @property
    def open(self) -> int:
        """Every status's leads but the closed ones'."""
        return sum(n for s, n in self.by_status.items() if s not in CLOSED_STATUSES)

    def show(self, n: int) -> str:
        """A count as shown on a tab: "1,234", "10,000+" above the cap, "" when not counted."""
        if self.too_many_people:
            return ""
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


#: A search that matches at most this many people is ranked (see `Search`) and handed to
#: the lead queries as a list of ids; a broader one stays a subquery, listed by date.
RANKED_MATCHES = 1000
#: How many ranks search.match_rank gives.
RANKS = 3


@dataclass(frozen=True)
class Search:
    """A queue search, resolved once per request (the queue page, its counts, a lead page's
    neighbours): the condition on leads it adds, and the order its matches rank in.

    Looking the people up once matters at a million leads: the trigram match on names costs
    10 to 15 ms, and the page and its tab counts would otherwise repeat it four times.
    """

    condition: ColumnElement[bool] | None = None
    #: The matching people's ids by rank (search.match_rank: exact words, word starts,
    #: inside a word), one entry per rank even when empty, so that a cursor's rank keeps
    #: its meaning when a new match fills a rank that was empty; () when not ranked.
    ranks: tuple[tuple[int, ...], ...] = ()
    #: True when `ranks` holds every matching person (at most RANKED_MATCHES of them).
    bounded: bool = False


@dataclass(frozen=True)
class _People:
    """Who a search means: a condition on people, its folded name terms (none for a phone
    number or an email), and the email start it was typed as, if it looks like one."""

    condition: ColumnElement[bool]
    terms: list[str] = field(default_factory=list)
    email_start: str | None = None


def _people_condition(text: str, default_country: str, dialect: str) -> _People | None:
    """Who a search means (see _People), or None when the search is empty.

    Phone numbers match exactly (any format); emails by their start; words by the start of
    any word of the name or the start of the email, without regard to accents or case. On
    PostgreSQL a word of three letters or more also matches inside a name ("guyen" finds
    Nguyễn), through the trigram index on the folded names.
    """
    text = text.strip()
    if not text:
        return None
    phones = phone_candidates(text, default_country)
    if phones:
        return _People(Prospect.phone.in_(phones))
    if "@" in text:
        typed, folded = text.casefold(), fold_email(text)
        starts = [
            Prospect.email_normalized.startswith(term, autoescape=True)
            for term in dict.fromkeys((typed, folded))
        ]
        return _People(or_(*starts))
    terms = [term for term in fold(text).split() if term][:MAX_SEARCH_TERMS]
    if not terms:
        return _People(false())  # only punctuation ("-", "'"): nobody's name is that
    conditions = []
    for term in terms:
        # Inside a word only from three letters on (the trigram index needs a trigram:
        # "%jo%" would read all of it); the leading space makes any term a word start.
        inside = dialect == "postgresql" and len(term) >= 3
        in_name = Prospect.search_name.contains(term if inside else " " + term, autoescape=True)
        email = Prospect.email_normalized.startswith(fold_email(term), autoescape=True)
        conditions.append(or_(in_name, email))
    if " " not in text and any(ch in text for ch in "._+-"):
        # "maria.gomez1" may be the start of an email as typed, not only two names.
        start = fold_email(text)
        as_typed = Prospect.email_normalized.startswith(start, autoescape=True)
        return _People(or_(as_typed, and_(*conditions)), terms, start)
    return _People(and_(*conditions), terms)


def resolve_search(
    session: Session, text: str, *, default_country: str = "US", viewer: Viewer | None = None
) -> Search:
    """Look up the people a search means, once, and rank them: every term a whole word of
    the name first, then every term the start of a word (or of the email), then matches
    inside a word; by date within each rank (the queue's keyset pages walk rank by rank).

    For a counselor, only people with a lead they may see: who else matches is none of
    their business, and should not make their own search too broad to rank and count.
    """
    dialect = _dialect(session)
    found = _people_condition(text, default_country, dialect)
    if found is None:
        return Search()
    people = select(Prospect.id, Prospect.search_name, Prospect.email_normalized).where(
        found.condition
    )
    if viewer is not None and not viewer.sees_all:
        visible = or_(Lead.owner_id == viewer.user_id, Lead.owner_id.is_(None))
        people = people.where(exists().where(Lead.prospect_id == Prospect.id, visible))
    rows = session.execute(people.limit(RANKED_MATCHES + 1)).all()
    if len(rows) > RANKED_MATCHES:
        # Too many people to list or rank: their leads are found by a semi-join that the
        # planner may run either way round. A broad match is common among recent leads, so
        # walking the queue's order and testing each person finds a page in a few thousand
        # rows (40 ms for "nguyen", 20,000 people); materializing every match first took
        # 390 ms. The narrow searches, whose matches may all be old (where that walk would
        # read the whole index), are the ranked ones above.
        return Search(Lead.prospect_id.in_(select(Prospect.id).where(found.condition)))
    by_rank: dict[int, list[int]] = {}
    for row in rows:
        rank = 0
        if found.terms:
            rank = match_rank(row.search_name, row.email_normalized, found.terms)
            if found.email_start and row.email_normalized.startswith(found.email_start):
                rank = min(rank, 1)  # the email as typed: a prefix match
        by_rank.setdefault(rank, []).append(row.id)
    ranks = tuple(tuple(sorted(by_rank.get(rank, ()))) for rank in range(RANKS))
    ids = sorted(row.id for row in rows)
    condition = _among(Lead.prospect_id, ids, dialect == "postgresql") if ids else false()
    return Search(condition, ranks, bounded=True)


def _among(column: Any, ids: Sequence[int], postgresql: bool) -> ColumnElement[bool]:
    """column IN ids; on PostgreSQL one array parameter (`= ANY(%s)`) instead of one
    parameter per id, which psycopg and SQLAlchemy would each render and parse: 10 ms of
    a request's CPU for the 400 people "maria gom" finds."""
    condition: ColumnElement[bool] = (
        column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
        if postgresql
        else column.in_(ids)
    )
    return condition


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


def _equals(column: Any, value: Any, pin: str | None) -> ColumnElement[bool]:
    """column = value; as `= ANY(ARRAY[value])` when it is the pinned column (see _pinned)."""
    condition: ColumnElement[bool] = (
        column == any_(bindparam(None, [value], type_=ARRAY(column.type)))
        if column.key == pin
        else column == value
    )
    return condition


def _status_condition(filters: QueueFilters, pin: str | None = None) -> ColumnElement[bool] | None:
    if filters.status == OPEN:
        return Lead.status.not_in(sorted(CLOSED_STATUSES))
    return _equals(Lead.status, filters.status, pin) if filters.status else None


def _owner_condition(filters: QueueFilters, pin: str | None = None) -> ColumnElement[bool] | None:
    if filters.unassigned:
        return Lead.owner_id.is_(None)
    return _equals(Lead.owner_id, filters.owner, pin) if filters.owner is not None else None


def _overdue_condition(filters: QueueFilters, now: dt.datetime) -> ColumnElement[bool] | None:
    return Lead.next_follow_up_at < now if filters.overdue else None


def _conditions(
    filters: QueueFilters,
    viewer: Viewer,
    now: dt.datetime,
    search: Search,
    *,
    skip: frozenset[str] = frozenset(),
    scope: ColumnElement[bool] | None = None,
    pin: str | None = None,
) -> list[ColumnElement[bool]]:
    """WHERE clauses for the filters (minus those named in skip) and the viewer's scope.

    A counselor's scope is "mine or unassigned"; `scope` may narrow it to one of the two.
    `pin`: the column whose equality is written so PostgreSQL keeps it in the sort order.
    """
    where: list[ColumnElement[bool]] = []
    if not viewer.sees_all:
        # Object-level privacy: never rely on the filters alone to hide other people's leads.
        if scope is None:
            scope = or_(Lead.owner_id == viewer.user_id, Lead.owner_id.is_(None))
        where.append(scope)
    for name, condition in (
        ("status", _status_condition(filters, pin)),
        ("owner", _owner_condition(filters, pin)),
        ("overdue", _overdue_condition(filters, now)),
    ):
        if condition is not None and name not in skip:
            where.append(condition)
    if filters.program_id is not None:
        where.append(_equals(Lead.program_id, filters.program_id, pin))
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
    if search.condition is not None:
        where.append(search.condition)
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

#: Filters that pin a column to one value, in the order of the leads index that leads with
#: exactly those columns and then (last_submitted_at, id) (see models.Lead).
_PINNED_ORDERS: frozenset[tuple[str, ...]] = frozenset(
    {
        ("status",),
        ("owner_id",),
        ("program_id",),
        ("owner_id", "status"),
        ("program_id", "status"),
        ("owner_id", "program_id", "status"),
    }
)


def _pinned(filters: QueueFilters) -> tuple[Any, ...]:
    """The columns the filters hold to one value, when an index leads with exactly them.

    Sorting by them first changes no result (each has one value) but tells PostgreSQL which
    index serves the order. Without it, for a status that is rare among recent leads (the
    enrolled ones are old), it may walk the index of every lead by date, newest first, and
    test each one's status: 167,000 rows (66 ms) to fill a page of the enrolled tab at 1M
    leads, against 51 rows (2 ms) in the status index. PostgreSQL drops a sort key that an
    `=` holds constant, so the first of these columns is tested as `= ANY(ARRAY[value])`
    there (the same test; `pin` in _conditions), which keeps the key and so the index.
    """
    pinned: list[Any] = []
    if filters.owner is not None and not filters.unassigned:
        pinned.append(Lead.owner_id)
    if filters.program_id is not None:
        pinned.append(Lead.program_id)
    if filters.status and filters.status != OPEN:
        pinned.append(Lead.status)
    names = tuple(column.key for column in pinned)
    return tuple(pinned) if names in _PINNED_ORDERS else ()


def without_parallel_workers(session: Session) -> None:
    """For the rest of this transaction, no parallel workers on PostgreSQL.

    The queue reads a page (or an export batch) at a time: a short index range that stops
    at its LIMIT. Starting parallel workers for it costs more than it saves: 23 of the 29 ms
    a broad search's page took at a million leads went to launching two workers (6 ms
    without), 40 of 50 ms for an export batch. SET LOCAL ends with the transaction.
    """
    if _dialect(session) == "postgresql":
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))


def _dialect(session: Session) -> str:
    """The database's dialect name: search matches inside names only where indexed."""
    return session.get_bind().dialect.name


def _segment_stmt(
    base: Select[Any],
    segment: _Segment,
    after: tuple[Any, ...] | None,
    backwards: bool,
    pinned: tuple[Any, ...] = (),
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
    if segment.keys[0].name == "last_submitted_at":
        columns = [*pinned, *columns]
    return stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))


def _resolved(
    session: Session,
    filters: QueueFilters,
    search: Search | None,
    default_country: str,
    viewer: Viewer,
) -> Search:
    if search is not None:
        return search
    return resolve_search(session, filters.search, default_country=default_country, viewer=viewer)


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
    search: Search | None = None,
) -> Page:
    """One page of the queue after (or before) a cursor; the first page without either.

    `search`: the filters' search already resolved (resolve_search), so a request that
    also counts tabs looks the people up once.
    """
    sort = filters.sort if filters.sort in SORTS else "newest"
    search = _resolved(session, filters, search, default_country, viewer)
    # A ranked search lists each rank in turn, each in the sort's own segments.
    ranks: tuple[tuple[int, ...] | None, ...] = search.ranks or (None,)
    plan = [(rank, segment) for rank in ranks for segment in _SEGMENTS[sort]]
    postgresql = _dialect(session) == "postgresql"
    pinned = _pinned(filters)
    pin = pinned[0].key if pinned and postgresql else None
    where = _conditions(filters, viewer, now, search if not search.ranks else Search(), pin=pin)
    base = select(Lead.id).where(*where)
    start = Cursor.decode(before, sort, len(search.ranks))
    backwards = start is not None
    if not backwards:
        start = Cursor.decode(after, sort, len(search.ranks))
    order = range(len(plan))
    if start is not None:
        order = range(start.segment, -1, -1) if backwards else range(start.segment, len(plan))
    elif backwards:
        order = range(0)
    found: list[tuple[int, Row[Any]]] = []
    for index in order:
        rank, segment = plan[index]
        if filters.overdue and segment.only == "no_follow_up":
            # Overdue means a follow-up date in the past: nothing without one can match, and
            # asking would walk every such lead to find none.
            continue
        if rank is not None and not rank:
            continue  # nobody in this rank
        stmt = base if rank is None else base.where(_among(Lead.prospect_id, rank, postgresql))
        values = start.values if start is not None and index == start.segment else None
        stmt = _segment_stmt(stmt, segment, values, backwards, pinned)
        # The page's leads are chosen on the leads table alone, then joined to their people:
        # a search that matched a few hundred people joins a page of them, not all of them.
        chosen = stmt.limit(size + 1 - len(found)).subquery()
        rows = _segment_stmt(
            select(*columns)
            .join(Prospect, Prospect.id == Lead.prospect_id)
            .join(chosen, chosen.c.id == Lead.id),
            segment,
            None,
            backwards,
        )
        found.extend((index, row) for row in session.execute(rows))
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
        next_cursor=_cursor_of(sort, *found[-1], len(search.ranks)).encode() if has_next else None,
        prev_cursor=_cursor_of(sort, *found[0], len(search.ranks)).encode() if has_prev else None,
        is_first=not has_prev,
    )


def _cursor_of(sort: str, index: int, row: Row[Any], ranks: int) -> Cursor:
    keys = _SEGMENTS[sort][index % len(_SEGMENTS[sort])].keys
    return Cursor(sort, index, tuple(getattr(row, key.name) for key in keys), ranks)


def count(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    *,
    now: dt.datetime,
    default_country: str = "US",
) -> int:
    """The exact number of leads the filters select (for the export's audit record)."""
    search = _resolved(session, filters, None, default_country, viewer)
    where = _conditions(filters, viewer, now, search)
    return int(session.execute(select(func.count()).select_from(Lead).where(*where)).scalar_one())


def tab_counts(
    session: Session,
    filters: QueueFilters,
    viewer: Viewer,
    *,
    now: dt.datetime,
    cap: int,
    default_country: str = "US",
    search: Search | None = None,
) -> TabCounts:
    """Counts for each tab under the other filters, in one round trip.

    Each count reads at most cap + 1 index entries: "1,000+" tells a person as much as an
    exact 412,377, and an exact count over a million rows is not a 50 ms query. "All" is
    the sum of the status counts (above the cap when any of them is). Under a search that
    matched few people, every tab is counted exactly in one pass over their leads instead.
    """
    search = _resolved(session, filters, search, default_country, viewer)
    if search.condition is not None and not search.bounded:
        # A search matching more people than RANKED_MATCHES: counting their leads tab by
        # tab would test a person per lead across whole indexes (1.7 s for "nguyen"). The
        # page says so, and a narrower search is counted.
        return TabCounts(cap=cap, too_many_people=RANKED_MATCHES)
    if search.bounded:
        row = session.execute(_one_pass_counts(filters, viewer, now, search)).one()._mapping
    else:
        row = session.execute(_capped_counts(filters, viewer, now, search, cap)).one()._mapping
    return TabCounts(
        cap=cap,
        by_status={s: int(row[s]) for s in LEAD_STATUSES},
        mine=int(row["mine"]),
        unassigned=int(row["unassigned"]),
        overdue=int(row["overdue"]),
    )


def _tab_conditions(viewer: Viewer, now: dt.datetime) -> list[tuple[str, ColumnElement[bool], str]]:
    """Each tab: its label, what it adds, and the filter it replaces."""
    tabs = [(s, Lead.status == s, "status") for s in LEAD_STATUSES]
    tabs.append(("mine", Lead.owner_id == viewer.user_id, "owner"))
    tabs.append(("unassigned", Lead.owner_id.is_(None), "owner"))
    tabs.append(("overdue", Lead.next_follow_up_at < now, "overdue"))
    return tabs


def _one_pass_counts(
    filters: QueueFilters, viewer: Viewer, now: dt.datetime, search: Search
) -> Select[Any]:
    """Every tab counted exactly in one scan of the leads the other filters select: cheap
    when a search has already narrowed them to a few people's leads."""
    where = _conditions(
        filters, viewer, now, search, skip=frozenset({"status", "owner", "overdue"})
    )
    own = {
        "status": _status_condition(filters),
        "owner": _owner_condition(filters),
        "overdue": _overdue_condition(filters, now),
    }
    columns = []
    for label, extra, replaces in _tab_conditions(viewer, now):
        parts = [extra, *(c for name, c in own.items() if name != replaces and c is not None)]
        hits = func.sum(case((and_(*parts), 1), else_=0))
        columns.append(func.coalesce(hits, 0).label(label))
    return select(*columns).select_from(Lead).where(*where)


def _capped_counts(
    filters: QueueFilters, viewer: Viewer, now: dt.datetime, search: Search, cap: int
) -> Select[Any]:
    """Every tab counted up to cap + 1, each as an index range that LIMIT stops early."""
    # A counselor's "mine or unassigned" is counted as two disjoint parts: each is then a
    # plain index range that LIMIT stops early, where an OR would need a full bitmap.
    scopes: list[ColumnElement[bool] | None] = [None]
    if not viewer.sees_all:
        scopes = [Lead.owner_id == viewer.user_id, Lead.owner_id.is_(None)]
    conditions: dict[tuple[str, int], list[ColumnElement[bool]]] = {}
    columns = []
    for label, extra, replaces in _tab_conditions(viewer, now):
        counts = []
        for index, scope in enumerate(scopes):
            key = (replaces, index)
            if key not in conditions:
                conditions[key] = _conditions(
                    filters, viewer, now, search, skip=frozenset({replaces}), scope=scope
                )
            limited = (
                select(literal_column("1"))
                .select_from(Lead)
                .where(*conditions[key], extra)
                .limit(cap + 1)
                .subquery()
            )
            counts.append(select(func.count()).select_from(limited).scalar_subquery())
        columns.append((counts[0] if len(counts) == 1 else counts[0] + counts[1]).label(label))
    return select(*columns)


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
    without_parallel_workers(session)
    search = _resolved(session, filters, None, default_country, viewer)
    # Under a ranked search, the lead's place is in its person's rank. A person who no
    # longer matches (their name was just corrected) has no rank: the rank they were shown
    # in is unknown, so their neighbours are the matches just before and after them by
    # the sort alone, as they were before search results were ranked.
    rank = next((i for i, ids in enumerate(search.ranks) if lead.prospect_id in ids), None)
    if rank is None:
        search = Search(search.condition)
    segment = 0
    for index, candidate in enumerate(segments):
        has_date = lead.next_follow_up_at is not None
        if candidate.only is None or (candidate.only == "has_follow_up") == has_date:
            segment = index
            break
    keys = segments[segment].keys
    here = Cursor(
        sort,
        (rank or 0) * len(segments) + segment,
        tuple(getattr(lead, k.name) for k in keys),
        len(search.ranks),
    )
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
            search=search,
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
    without_parallel_workers(session)
    search = resolve_search(session, filters.search, default_country=default_country, viewer=viewer)
    page = fetch_page(
        session, filters, viewer, now=now, size=size, after=after, before=before, search=search
    )
    counts = tab_counts(session, filters, viewer, now=now, cap=cap, search=search)
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
