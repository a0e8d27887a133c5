"""The queue's pages, neighbours and tab counts against a Python oracle.

Forty leads with ranked names, random statuses, owners, follow-ups and ties in time; for
every sort, search (none, ranked, short), viewer and filter the keyset pages (forward and
back), each lead's previous/next, and the one-pass counts must be what filtering and
sorting the rows in Python gives. The ranks themselves come from queue.resolve_search:
what they are is test_search.py's business; here, that pages, neighbours and counts
follow them.
"""

from __future__ import annotations

import datetime as dt
import random

import pytest

from leadform.core.leads import queue
from leadform.db import utcnow
from leadform.models import Lead
from leadform.vocab import CLOSED_STATUSES, LEAD_STATUSES

PROGRAMS = ("medical-billing-and-coding-certificate", "bs-health-information-management")
NAMES = [
    ("Ann", "Exact"),
    ("Anna", "Prefix"),
    ("Joanne", "Inside"),
    ("Ann", "Smith"),
    ("Annabel", "Lee"),
    ("Bob", "Other"),
    ("Mary", "Ann"),
    ("Hannah", "Banner"),
]


@pytest.fixture
def world(db, make_lead, make_staff):
    rnd = random.Random(7)
    me, other = make_staff("counselor"), make_staff("counselor")
    now = utcnow()
    base = now - dt.timedelta(days=10)
    leads = []
    for i in range(40):
        first, last = NAMES[i % len(NAMES)]
        email = f"p{i % 30}@example.com"  # some people have two leads (two programs)
        program = PROGRAMS[0] if i < 30 else PROGRAMS[1]
        made = make_lead(email=email, program=program, first_name=first, last_name=last)
        made.created_at = made.last_submitted_at = base + dt.timedelta(hours=rnd.randrange(8))
        made.status = rnd.choice(LEAD_STATUSES)
        made.owner_id = rnd.choice([me.id, other.id, None])
        r = rnd.random()
        made.next_follow_up_at = (
            None if r < 0.4 else now + dt.timedelta(hours=rnd.choice([-30, -5, 5, 30]))
        )
        leads.append(made)
    db.commit()
    return me, other, now


def _visible(lead: Lead, f: queue.QueueFilters, v: queue.Viewer, now) -> bool:
    if not v.sees_all and lead.owner_id not in (v.user_id, None):
        return False
    if f.status == queue.OPEN and lead.status in CLOSED_STATUSES:
        return False
    if f.status and f.status != queue.OPEN and lead.status != f.status:
        return False
    if f.unassigned and lead.owner_id is not None:
        return False
    if f.owner is not None and not f.unassigned and lead.owner_id != f.owner:
        return False
    if f.program_id is not None and lead.program_id != f.program_id:
        return False
    return not f.overdue or (lead.next_follow_up_at is not None and lead.next_follow_up_at < now)


def _expected(db, f, v, now):
    search = queue.resolve_search(db, f.search)
    leads = db.query(Lead).all()
    ranks = search.ranks or (None,)
    out = []
    for rank in ranks:
        group = [
            lead
            for lead in leads
            if _visible(lead, f, v, now) and (rank is None or lead.prospect_id in rank)
        ]
        if f.sort == "newest":
            group.sort(key=lambda m: (m.last_submitted_at, m.id), reverse=True)
        elif f.sort == "oldest":
            group.sort(key=lambda m: (m.last_submitted_at, m.id))
        else:
            has = sorted(
                (m for m in group if m.next_follow_up_at is not None),
                key=lambda m: (m.next_follow_up_at, m.id),
            )
            no = sorted(
                (m for m in group if m.next_follow_up_at is None),
                key=lambda m: (m.last_submitted_at, m.id),
                reverse=True,
            )
            group = has + no
        out.extend(m.id for m in group)
    return out


def _walk(db, f, v, now, size):
    pages, after = [], None
    while True:
        page = queue.fetch_page(db, f, v, now=now, size=size, after=after)
        pages.append([r.id for r in page.rows])
        if not page.next_cursor:
            return pages
        after = page.next_cursor
        assert len(pages) < 100


VARIANTS = [
    {},
    {"status": "new"},
    {"status": queue.OPEN},
    {"unassigned": True},
    {"overdue": True},
    {"program": 0},
    {"program": 0, "status": "contacted"},
]


def _keywords(extra: dict, program_id: int, me: int, other: int) -> dict:
    """A VARIANTS entry as QueueFilters keywords: "program" and "me"/"other" made ids."""
    kw = {k: v for k, v in extra.items() if k != "program"}
    if "program" in extra:
        kw["program_id"] = program_id
    if "owner" in kw:
        kw["owner"] = {"me": me, "other": other}[kw["owner"]]
    return kw


@pytest.mark.parametrize("sort", ["newest", "oldest", "follow_up"])
@pytest.mark.parametrize("q", ["", "ann", "an"])
@pytest.mark.parametrize("manager", [True, False])
def test_pages_and_neighbours_match_the_oracle(db, world, sort, q, manager):
    me, other, now = world
    program_id = db.query(Lead).order_by(Lead.id).first().program_id
    v = queue.Viewer(user_id=me.id, sees_all=manager)
    for extra in VARIANTS + [{"owner": "me"}, {"owner": "other"}]:
        kw = _keywords(extra, program_id, me.id, other.id)
        f = queue.QueueFilters(search=q, sort=sort, **kw)
        want = _expected(db, f, v, now)
        for size in (1, 3):
            pages = _walk(db, f, v, now, size)
            got = [i for p in pages for i in p]
            assert got == want, (extra, size)
        # neighbours of every lead in the list
        for idx, lead_id in enumerate(want):
            lead = db.get(Lead, lead_id)
            before, after = queue.neighbours(db, f, v, lead, now=now)
            exp_b = want[idx - 1] if idx > 0 else None
            exp_a = want[idx + 1] if idx + 1 < len(want) else None
            assert (before, after) == (exp_b, exp_a), (extra, lead_id, idx)


@pytest.mark.parametrize("sort", ["newest", "oldest", "follow_up"])
@pytest.mark.parametrize("q", ["", "ann"])
def test_backwards_pages_match(db, world, sort, q):
    me, other, now = world
    v = queue.Viewer(user_id=me.id, sees_all=True)
    for extra in VARIANTS[:5]:
        f = queue.QueueFilters(search=q, sort=sort, **extra)
        want = _expected(db, f, v, now)
        size = 3
        # forward, remembering each page's prev cursor
        after, pages, prevs = None, [], []
        while True:
            page = queue.fetch_page(db, f, v, now=now, size=size, after=after)
            pages.append([r.id for r in page.rows])
            prevs.append(page.prev_cursor)
            if not page.next_cursor:
                break
            after = page.next_cursor
        assert [i for p in pages for i in p] == want
        for k in range(1, len(pages)):
            back = queue.fetch_page(db, f, v, now=now, size=size, before=prevs[k])
            assert [r.id for r in back.rows] == pages[k - 1], (extra, k)


@pytest.mark.parametrize("q", ["ann", "an", "annabel", "mary ann"])
def test_one_pass_counts_match_oracle(db, world, q):
    me, other, now = world
    program_id = db.query(Lead).order_by(Lead.id).first().program_id
    for manager in (True, False):
        v = queue.Viewer(user_id=me.id, sees_all=manager)
        for extra in VARIANTS + [
            {"owner": "me"},
            {"owner": "other"},
            {"status": "new", "owner": "me", "overdue": True},
        ]:
            kw = _keywords(extra, program_id, me.id, other.id)
            f = queue.QueueFilters(search=q, **kw)
            counts = queue.tab_counts(db, f, v, now=now, cap=1000)
            search = queue.resolve_search(db, q)
            ids = {i for r in search.ranks for i in r}
            leads = [m for m in db.query(Lead).all() if m.prospect_id in ids]

            def n(kw=kw, leads=leads, v=v, **changes):
                g = queue.QueueFilters(**{**kw, **changes})
                return [m for m in leads if _visible(m, g, v, now)]

            for s in LEAD_STATUSES:
                assert counts.by_status[s] == len(n(status=s)), (manager, extra, s)
            assert counts.mine == len(
                [m for m in n(owner=None, unassigned=False) if m.owner_id == me.id]
            )
            assert counts.unassigned == len(n(owner=None, unassigned=True))
            assert counts.overdue == len(n(overdue=True))
