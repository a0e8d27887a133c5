"""The staff queue at /staff/: tabs, filters, search, keyset pages, privacy and bulk actions."""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
from factories import set_config
from sqlalchemy import select, update

from leadform.context import get_session
from leadform.core.accounts import users
from leadform.db import utcnow
from leadform.models import Activity, AuditEvent, Lead, Program, Prospect

OTHER_PROGRAM = "bs-health-information-management"
Y = dt.date.today().year + 2
STAFF_TZ = ZoneInfo("America/Indiana/Indianapolis")  # the default STAFF_TIMEZONE


def names(page: str) -> list[str]:
    """Lead names in the queue table, top to bottom."""
    found = re.findall(
        r'<td class="col-name">\s*<a class="fw-semibold" href="[^"]*">([^<]*)</a>', page
    )
    return [html.unescape(name) for name in found]


def lead_ids(page: str) -> list[int]:
    """Lead ids in the queue table (from the row links), top to bottom."""
    return [int(i) for i in re.findall(r'href="/staff/leads/(\d+)[?"]', page)]


def row_classes(page: str) -> dict[str, str]:
    """The CSS classes of each lead's table row, by name."""
    found = {}
    for classes, cells in re.findall(r'<tr class="([^"]*)">(.*?)</tr>', page, re.S):
        row_names = names(cells)
        if row_names:
            found[row_names[0]] = classes
    return found


def tab_count(page: str, label: str) -> str:
    """The count shown on a status tab or quick-view button."""
    match = re.search(
        rf">\s*{re.escape(label)} <span class=\"(?:count|badge[^\"]*)\">([^<]+)</span>", page
    )
    assert match, f"no tab {label!r}"
    return match.group(1)


def link(page: str, text: str) -> str | None:
    """The href of the link with this text, if the page has one."""
    match = re.search(rf'<a [^>]*href="([^"]+)"[^>]*>{re.escape(text)}</a>', page)
    return html.unescape(match.group(1)) if match else None


@pytest.fixture
def get(client):
    def do(query: str = "", **params: str) -> str:
        response = client.get("/staff/" + query, query_string=params)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return do


@pytest.fixture
def lead(make_lead, db):
    """make_lead plus created_at / follow-up / utm overrides: lead("Ann", status=..., age=...)."""
    counter = iter(range(1, 10_000))

    def make(first_name: str, *, age: dt.timedelta | None = None, **values):
        follow_up = values.pop("follow_up", None)
        created = values.pop("created_at", None)
        email = values.pop("email", None) or f"{first_name.lower()}{next(counter)}@example.com"
        values.setdefault("last_name", "")  # rows then show just the first name
        made = make_lead(email=email, first_name=first_name, **values)
        if age is not None:
            created = utcnow() - age
        if created is not None:  # one request, at that time
            made.created_at = made.last_submitted_at = created
        if follow_up is not None:
            made.next_follow_up_at = follow_up
        db.commit()
        return made

    return make


def test_counselor_sees_own_and_unassigned_only(get, lead, login_as, make_staff):
    other = make_staff("counselor")
    me = login_as("counselor")
    lead("Mine", owner=me)
    lead("Nobodys")
    lead("Theirs", owner=other)
    page = get(owner="any")  # everything they may see (their start view is their own leads)
    assert sorted(names(page)) == ["Mine", "Nobodys"]
    assert tab_count(page, "All") == "2"
    # Asking for the other counselor's leads, or searching for them, shows nothing.
    assert "Theirs" not in get(owner=str(other.id))
    assert names(get(q="Theirs")) == []


def test_counselor_cannot_pick_another_owner(get, lead, login_as, make_staff):
    other = make_staff("counselor")
    login_as("counselor")
    lead("Theirs", owner=other)
    page = get(owner=str(other.id))
    assert "Not a valid choice" in page
    assert names(page) == []


def test_manager_sees_everyone_and_tab_counts(get, lead, login_as, make_staff):
    counselor = make_staff("counselor")
    manager = login_as("manager")
    lead("A", status="new")
    lead("B", status="new", owner=counselor)
    lead("C", status="contacted", owner=manager)
    lead("D", status="enrolled", owner=counselor, follow_up=utcnow() - dt.timedelta(hours=1))
    page = get()
    assert sorted(names(page)) == ["A", "B", "C", "D"]
    assert tab_count(page, "All") == "4"
    assert tab_count(page, "New") == "2"
    assert tab_count(page, "Contacted") == "1"
    assert tab_count(page, "Enrolled") == "1"
    assert tab_count(page, "Qualified") == "0"
    assert tab_count(page, "My leads") == "1"
    assert tab_count(page, "Unassigned") == "1"
    assert tab_count(page, "Overdue follow-ups") == "1"
    # Counts follow the other filters: within one counselor's leads.
    page = get(owner=str(counselor.id))
    assert tab_count(page, "All") == "2"
    assert tab_count(page, "New") == "1"


def test_tab_counts_stop_at_the_cap(app, get, lead, login_as):
    set_config(app, QUEUE_COUNT_CAP=2)
    login_as("manager")
    for name in ("A", "B", "C"):
        lead(name)
    page = get()
    assert tab_count(page, "All") == "2+"
    assert tab_count(page, "New") == "2+"
    assert tab_count(page, "Qualified") == "0"


def test_status_tab_and_owner_views(get, lead, login_as, make_staff):
    counselor = make_staff("counselor")
    me = login_as("manager")
    lead("New1")
    lead("Qual", status="qualified", owner=me)
    lead("Theirs", status="qualified", owner=counselor)
    assert sorted(names(get(status="qualified"))) == ["Qual", "Theirs"]
    assert names(get(owner="me")) == ["Qual"]
    assert names(get(owner="none")) == ["New1"]
    assert names(get(owner=str(counselor.id))) == ["Theirs"]
    assert names(get(status="qualified", owner="me")) == ["Qual"]


def test_program_date_and_attribution_filters(get, lead, login_as):
    login_as("manager")
    now = utcnow()
    lead("Old", created_at=now - dt.timedelta(days=10), utm_source="google", utm_medium="cpc")
    lead("Mid", created_at=now - dt.timedelta(days=5), utm_source="facebook", utm_campaign="fall")
    lead("Recent", program=OTHER_PROGRAM, utm_source="google", utm_campaign="spring")
    assert names(get(program=OTHER_PROGRAM)) == ["Recent"]
    day = (now - dt.timedelta(days=5)).astimezone(STAFF_TZ).date().isoformat()
    assert names(get(received_from=day, received_to=day)) == ["Mid"]
    assert names(get(received_to=day)) == ["Mid", "Old"]
    assert names(get(received_from=day)) == ["Recent", "Mid"]
    assert names(get(source="google")) == ["Recent", "Old"]
    assert names(get(medium="cpc")) == ["Old"]
    assert names(get(campaign="fall")) == ["Mid"]
    assert names(get(source="google", campaign="spring")) == ["Recent"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("received_to", "9999-12-31"), ("received_from", "0001-01-01"), ("received_to", "2101-01-01")],
)
def test_an_implausible_received_year_is_a_filter_error(get, lead, login_as, field, value):
    login_as("manager")
    lead("Ann")
    page = get(**{field: value})
    assert "Enter a date between 2000 and 2100." in page
    assert names(page) == ["Ann"]


def test_received_days_are_staff_time_zone_days(app, get, lead, login_as):
    """11 PM on Jan 9 in Indianapolis is Jan 10 in UTC: it belongs to Jan 9."""
    login_as("manager")
    lead("Evening", created_at=dt.datetime(2026, 1, 10, 4, 0, tzinfo=dt.UTC))  # 11 PM EST
    lead("Morning", created_at=dt.datetime(2026, 1, 10, 14, 0, tzinfo=dt.UTC))  # 9 AM EST
    assert names(get(received_from="2026-01-09", received_to="2026-01-09")) == ["Evening"]
    assert names(get(received_from="2026-01-10", received_to="2026-01-10")) == ["Morning"]
    set_config(app, STAFF_TIMEZONE="UTC")
    assert names(get(received_from="2026-01-10", received_to="2026-01-10")) == [
        "Morning",
        "Evening",
    ]


def test_queue_times_are_shown_in_the_staff_time_zone(get, lead, login_as):
    login_as("manager")
    lead("Soon", follow_up=dt.datetime(Y, 7, 1, 18, 30, tzinfo=dt.UTC))  # 2:30 PM EDT
    page = get()
    assert f"Jul 1, {Y} 2:30 PM</time>" in page
    assert "Jul 01, 18:30" not in page  # not UTC
    assert "Times in Indianapolis" in page


def test_a_bad_filter_value_is_explained_and_ignored(get, lead, login_as):
    login_as("manager")
    lead("Ann")
    page = get(received_from="31/12/2026", status="bogus")
    assert "Not a valid date value." in page
    assert "Not a valid choice" in page
    assert names(page) == ["Ann"]


@pytest.mark.parametrize(
    "typed", ["(317) 555-0123", "3175550123", "+1 317 555 0123", "317.555.0123", "13175550123"]
)
def test_search_by_phone_in_any_format(get, lead, login_as, typed):
    login_as("manager")
    lead("Caller", phone="(317) 555-0123", phone_e164="+13175550123")
    lead("Other", phone="(317) 555-0199", phone_e164="+13175550199")
    assert names(get(q=typed)) == ["Caller"]


def test_search_by_partial_name_and_email(get, lead, login_as):
    login_as("manager")
    lead("Maria", last_name="Gómez", email="mgomez@example.com")
    lead("Mark", last_name="Twain", email="samuel@example.org")
    lead("Pat", last_name="Mariano", email="pat@example.net")
    assert sorted(names(get(q="mar"))) == ["Maria Gómez", "Mark Twain", "Pat Mariano"]
    assert names(get(q="maria g")) == ["Maria Gómez"]
    assert names(get(q="MARIA gÓM")) == ["Maria Gómez"]
    assert names(get(q="samuel@")) == ["Mark Twain"]
    assert names(get(q="sam")) == ["Mark Twain"]
    assert names(get(q="twa")) == ["Mark Twain"]
    assert names(get(q="%")) == []


def test_overdue_view(get, lead, login_as):
    login_as("manager")
    now = utcnow()
    lead("Late", follow_up=now - dt.timedelta(minutes=5))
    lead("Later", follow_up=now + dt.timedelta(days=1))
    lead("None")
    page = get(overdue="1")
    assert names(page) == ["Late"]
    assert "Overdue</span>" in page
    assert tab_count(page, "Overdue follow-ups") == "1"


def test_new_leads_past_speed_to_lead_stand_out(get, lead, login_as):
    login_as("manager")
    lead("Waiting", age=dt.timedelta(minutes=20))
    lead("Fresh", age=dt.timedelta(minutes=5))
    lead("Called", age=dt.timedelta(minutes=40), status="contacted")
    page = get()
    rows = row_classes(page)
    assert "lead-late" in rows["Waiting"]
    assert "lead-late" not in rows["Fresh"]
    assert "lead-late" not in rows["Called"]
    assert page.count("Over 15 min</span>") == 1


def test_speed_to_lead_target_is_configurable(app, get, lead, login_as):
    set_config(app, SPEED_TO_LEAD_MINUTES=60)
    login_as("manager")
    lead("Waiting", age=dt.timedelta(minutes=20))
    assert "lead-late" not in get()


def _walk(get, params: dict[str, str], direction: str = "Next page") -> list[list[int]]:
    """Follow the pager links from the first page; the ids on each page."""
    pages = []
    query = dict(params)
    for _ in range(50):
        page = get(**query)
        pages.append(lead_ids(page))
        href = link(page, direction)
        if href is None:
            return pages
        query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    raise AssertionError("the pager did not end")


@pytest.fixture
def thirty_leads(lead, db):
    """30 leads with ties in created_at and in follow-up times, some without a follow-up."""
    base = utcnow() - dt.timedelta(days=3)
    made = []
    for i in range(30):
        follow = None if i % 3 == 0 else base + dt.timedelta(hours=(i % 4))
        made.append(
            lead(f"Lead{i:02d}", created_at=base + dt.timedelta(minutes=i // 4), follow_up=follow)
        )
    return made


@pytest.mark.parametrize("sort", ["newest", "oldest", "follow_up"])
def test_keyset_pages_walk_every_row_once_in_order(app, get, login_as, thirty_leads, sort):
    set_config(app, QUEUE_PAGE_SIZE=7)
    login_as("manager")
    pages = _walk(get, {"sort": sort})
    assert [len(p) for p in pages] == [7, 7, 7, 7, 2]
    seen = [i for p in pages for i in p]
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    by_id = {lead.id: lead for lead in thirty_leads}
    if sort == "newest":
        expected = sorted(by_id, key=lambda i: (by_id[i].created_at, i), reverse=True)
    elif sort == "oldest":
        expected = sorted(by_id, key=lambda i: (by_id[i].created_at, i))
    else:
        with_date = [i for i in by_id if by_id[i].next_follow_up_at is not None]
        without = [i for i in by_id if by_id[i].next_follow_up_at is None]
        expected = sorted(with_date, key=lambda i: (by_id[i].next_follow_up_at or far_future, i))
        expected += sorted(without, key=lambda i: (by_id[i].created_at, i), reverse=True)
    assert seen == expected


@pytest.mark.parametrize("sort", ["newest", "follow_up"])
def test_previous_page_goes_back_the_same_way(app, get, login_as, thirty_leads, sort):
    set_config(app, QUEUE_PAGE_SIZE=7)
    login_as("manager")
    forward = _walk(get, {"sort": sort})
    # From the last page, walk back with "Previous page".
    query: dict[str, str] = {"sort": sort}
    for _ in range(len(forward) - 1):
        href = link(get(**query), "Next page")
        query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    backward = []
    for _ in range(len(forward)):
        page = get(**query)
        backward.append(lead_ids(page))
        href = link(page, "Previous page")
        if href is None:
            break
        query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert backward == forward[::-1]
    assert link(get(**query), "First page") is None


@pytest.mark.parametrize(
    "keys",
    [
        ("status",),
        ("program",),
        ("owner",),
        ("owner", "status"),
        ("program", "status"),
        ("owner", "program", "status"),
        ("owner", "program"),
    ],
)
def test_filters_that_pin_columns_page_every_row_once_in_order(app, get, login_as, lead, keys):
    """A filter holding owner, program or status to one value also leads the sort (the
    index that serves it); pages still walk each matching lead once, newest first, and back."""
    set_config(app, QUEUE_PAGE_SIZE=3)
    me = login_as("manager")
    base = utcnow() - dt.timedelta(days=2)
    programs = ("medical-billing-and-coding-certificate", "bs-health-information-management")
    made = []
    for i in range(24):
        made.append(
            lead(
                f"P{i:02d}",
                program=programs[i % 2],
                status=("contacted", "enrolled")[(i // 2) % 2],
                owner=me if i % 3 else None,
                created_at=base + dt.timedelta(minutes=i // 5),  # ties in time
                email=f"p{i}@example.com",
            )
        )
    wanted = {"status": "enrolled", "program": programs[0], "owner": str(me.id)}
    params = {key: wanted[key] for key in keys}
    if "owner" not in keys:
        params["owner"] = "any"
    program_id = made[0].program_id  # programs[0]
    expected = [
        m.id
        for m in sorted(made, key=lambda m: (m.last_submitted_at, m.id), reverse=True)
        if ("status" not in keys or m.status == "enrolled")
        and ("program" not in keys or m.program_id == program_id)
        and ("owner" not in keys or m.owner_id == me.id)
    ]
    assert expected
    pages = _walk(get, params)
    assert [i for page in pages for i in page] == expected
    # And back from the last page.
    query = dict(params)
    for _ in range(len(pages) - 1):
        href = link(get(**query), "Next page")
        query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert _walk(get, query, "Previous page") == pages[::-1]


def test_postgresql_is_told_which_index_serves_a_pinned_order(app, get, login_as, lead):
    """On PostgreSQL the first pinned column is tested as `= ANY(ARRAY[...])`, which it does
    not fold into a constant, so the sort keeps it and the status index serves the tab."""
    from sqlalchemy import event

    login_as("manager")
    lead("Ann", status="enrolled")
    seen: list[str] = []
    with app.app_context():
        engine = get_session().get_bind()

    def remember(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        assert names(get(status="enrolled", owner="any")) == ["Ann"]
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    page_query = next(q for q in seen if "ORDER BY" in q and "leads.status" in q)
    if engine.dialect.name == "postgresql":
        assert "= ANY (" in page_query
        assert "ORDER BY leads.status DESC" in page_query
    else:
        assert "ANY" not in page_query
        assert "ORDER BY leads.status DESC" in page_query  # pinned on both databases


def test_pages_keep_the_filters(app, get, login_as, lead):
    set_config(app, QUEUE_PAGE_SIZE=2)
    login_as("manager")
    for i in range(5):
        lead(f"Q{i}", status="qualified")
        lead(f"N{i}")
    pages = _walk(get, {"status": "qualified"})
    assert sum(len(p) for p in pages) == 5


def test_a_garbled_cursor_shows_the_first_page(get, login_as, lead):
    login_as("manager")
    lead("Ann")
    assert names(get(after="not-a-cursor")) == ["Ann"]
    assert names(get(after="W1swXV0")) == ["Ann"]
    crafted = base64.urlsafe_b64encode(b'["follow_up",-1,["2999-01-01T00:00:00+00:00",1]]')
    assert names(get(sort="follow_up", after=crafted.decode())) == ["Ann"]


def test_queue_view_is_audited_with_filters(get, login_as, lead, db):
    me = login_as("counselor")
    lead("Ann")
    get(status="new", q="ann")
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "queue.viewed")).one()
    assert event.actor_id == me.id
    assert event.data["filters"] == {"status": "new", "q": "ann"}


def test_queue_audit_and_export_link_hold_only_the_applied_filters(get, login_as, lead, db):
    login_as("manager")
    lead("Ann")
    page = get(status="enroled", q="ann")
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "queue.viewed")).one()
    assert event.data["filters"] == {"q": "ann"}  # the bad status was shown, not applied
    export = re.search(r'href="([^"]*)" download>Export these leads', page)
    assert export
    assert html.unescape(export.group(1)) == "/staff/leads/export.csv?q=ann"


def test_rows_link_to_the_lead_page(get, login_as, lead):
    login_as("manager")
    made = lead("Ann")
    assert f'href="/staff/leads/{made.id}?from="' in get()
    assert f'href="/staff/leads/{made.id}?from=status%3Dnew"' in get(status="new")


def test_hostile_names_render_inert(get, login_as, lead):
    login_as("manager")
    lead("<script>alert(1)</script>", email="hostile@example.com")
    page = get()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)" in page


# Bulk actions


def _bulk(client, ids, **form):
    data = {"lead_ids": [str(i) for i in ids], **form}
    return client.post("/staff/leads/bulk", data=data)


def test_manager_bulk_assigns_and_returns_to_the_same_view(client, login_as, lead, make_staff, db):
    counselor = make_staff("counselor", name="Casey Counselor")
    login_as("manager")
    a, b, c = lead("A"), lead("B"), lead("C")
    response = _bulk(
        client,
        [a.id, b.id],
        action="assign",
        owner=str(counselor.id),
        return_to="status=new&sort=oldest&evil=1",
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/?status=new&sort=oldest"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Assigned 2 leads to Casey Counselor." in page
    db.expire_all()
    assert [db.get(Lead, i).owner_id for i in (a.id, b.id, c.id)] == [
        counselor.id,
        counselor.id,
        None,
    ]
    kinds = db.scalars(select(Activity.kind).where(Activity.lead_id == a.id)).all()
    assert "assigned" in kinds
    # And back to nobody.
    _bulk(client, [a.id], action="assign", owner="none")
    db.expire_all()
    assert db.get(Lead, a.id).owner_id is None


def test_manager_bulk_changes_status(client, login_as, lead, db):
    login_as("admin")
    a, b = lead("A"), lead("B", status="qualified")
    response = _bulk(client, [a.id, b.id], action="status", status="qualified")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Moved 1 lead to Qualified; 1 lead was already Qualified." in page
    db.expire_all()
    assert db.get(Lead, a.id).status == "qualified"
    assert db.get(Lead, a.id).first_contacted_at is not None
    actions = db.scalars(select(AuditEvent.action)).all()
    assert actions.count("lead.status_changed") == 1


@pytest.mark.parametrize("odd", ["²", "99999999999999999999", "٣"])
def test_bulk_ignores_ids_that_are_not_plain_numbers(client, login_as, lead, db, odd):
    login_as("manager")
    a = lead("A")
    response = client.post(
        "/staff/leads/bulk",
        data={"lead_ids": [odd, str(a.id)], "action": "status", "status": "qualified"},
    )
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Lead, a.id).status == "qualified"


def test_a_reopened_lead_comes_back_to_the_top_and_is_late(app, get, lead, make_lead, login_as, db):
    login_as("manager")
    returning = lead("Returning", email="back@example.com", age=dt.timedelta(days=200))
    returning.status = "not_interested"
    returning.first_contacted_at = utcnow() - dt.timedelta(days=199)
    db.commit()
    for i in range(3):
        lead(f"Recent{i}", age=dt.timedelta(days=i + 1))
    before = names(get(sort="newest"))
    assert before[-1] == "Returning"

    make_lead(email="back@example.com", first_name="Returning", last_name="")  # asks again
    db.execute(
        update(Lead)  # ... 20 minutes ago, longer than the 15-minute speed-to-lead target
        .where(Lead.id == returning.id)
        .values(last_submitted_at=utcnow() - dt.timedelta(minutes=20))
    )
    db.commit()
    page = get(sort="newest")
    assert names(page)[0] == "Returning"
    assert "lead-late" in row_classes(page)["Returning"]
    assert names(get(sort="oldest"))[-1] == "Returning"
    today = utcnow().astimezone(STAFF_TZ).date().isoformat()
    assert names(get(received_from=today)) == ["Returning"]


def test_bulk_without_a_choice_changes_nothing(client, login_as, lead, db):
    login_as("manager")
    a = lead("A")
    response = _bulk(client, [a.id], action="status", status="")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Choose the new status" in page
    response = _bulk(client, [], action="status", status="qualified")
    assert "Tick at least one lead" in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    db.expire_all()
    assert db.get(Lead, a.id).status == "new"


def test_counselor_gets_403_for_bulk_and_sees_no_bulk_form(client, get, login_as, lead, db):
    me = login_as("counselor")
    a = lead("A", owner=me)
    assert 'id="bulk-form"' not in get()
    response = _bulk(client, [a.id], action="status", status="enrolled")
    assert response.status_code == 403
    db.expire_all()
    assert db.get(Lead, a.id).status == "new"
    assert "access.denied" in db.scalars(select(AuditEvent.action)).all()


def test_bulk_needs_a_csrf_token(app, client):
    # No `db` fixture here: it holds an app context open, and Flask-WTF caches the token on
    # `g`, which would then leak from one test request into the next.
    set_config(app, WTF_CSRF_ENABLED=True)
    with app.app_context():
        session = get_session()
        program = session.scalars(select(Program)).first()
        prospect = Prospect(
            email_normalized="a@example.com", email="a@example.com", first_name="A", last_name="B"
        )
        session.add(prospect)
        session.flush()
        made = Lead(prospect_id=prospect.id, program_id=program.id)
        session.add(made)
        user = users.create_user(
            session,
            "m@staff.example.com",
            "M",
            "manager",
            "correct horse",
            argon2_profile="CHEAPEST",
        )
        session.commit()
        lead_id, email = made.id, user.email

    def token(page: str) -> str:
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]

    login_page = client.get("/staff/login").get_data(as_text=True)
    login = {"email": email, "password": "correct horse", "csrf_token": token(login_page)}
    assert client.post("/staff/login", data=login).status_code == 303
    assert _bulk(client, [lead_id], action="status", status="enrolled").status_code == 400
    queue_page = client.get("/staff/").get_data(as_text=True)
    bulk_form = queue_page[queue_page.index('id="bulk-form"') :]
    response = _bulk(
        client, [lead_id], action="status", status="enrolled", csrf_token=token(bulk_form)
    )
    assert response.status_code == 303
    with app.app_context():
        assert get_session().get(Lead, lead_id).status == "enrolled"


def test_queue_service_takes_extreme_dates_without_overflowing(db, lead):
    """The form refuses such years; a caller that doesn't still gets an answer, not a 500."""
    from leadform.core.leads import queue

    lead("Ann")
    viewer = queue.Viewer(user_id=0, sees_all=True)
    for filters, expected in (
        (queue.QueueFilters(received_to=dt.date.max, tz=STAFF_TZ), 1),
        (queue.QueueFilters(received_from=dt.date.min, tz=STAFF_TZ), 1),
        (queue.QueueFilters(received_from=dt.date.max, tz=STAFF_TZ), 0),
    ):
        page = queue.fetch_page(db, filters, viewer, now=utcnow(), size=10)
        assert len(page.rows) == expected


# A counselor's start view, the overdue order, readable sentences and phone numbers


def test_a_counselor_starts_on_their_open_leads_with_a_way_to_see_everything(
    client, get, lead, login_as, make_staff
):
    other = make_staff("counselor")
    me = login_as("counselor")
    lead("Mine", owner=me)
    lead("Qualified", owner=me, status="qualified")
    lead("Enrolled", owner=me, status="enrolled")
    for status in ("not_interested", "unreachable", "invalid"):
        lead(f"Closed {status}", owner=me, status=status, email=f"{status}@example.com")
    lead("Nobodys")
    lead("Theirs", owner=other)
    page = get()
    assert sorted(names(page)) == ["Enrolled", "Mine", "Qualified"]
    assert "Your open leads" in page
    assert re.search(r'aria-current="page"[^>]*>Open <span', page)  # the tab and button say so
    assert re.search(r'btn-dark" href="[^"]*"[^>]*aria-current="true">\s*My leads', page)
    everything = link(page, "Show every lead you can see")
    assert everything == "/staff/?owner=any"
    page = client.get(everything).get_data(as_text=True)
    assert sorted(names(page)) == [
        "Closed invalid",
        "Closed not_interested",
        "Closed unreachable",
        "Enrolled",
        "Mine",
        "Nobodys",
        "Qualified",
    ]
    assert "Your open leads" not in page
    # Every link from there keeps "everything": a tab, and back to All, is not the start view.
    tab = link(page, f'New <span class="count">{tab_count(page, "New")}</span>')
    assert tab == "/staff/?owner=any&status=new"
    all_tab = link(client.get(tab).get_data(as_text=True), 'All <span class="count">7</span>')
    assert all_tab == "/staff/?owner=any"


def test_a_counselor_who_clears_the_filters_sees_everything_not_the_start_view(get, lead, login_as):
    me = login_as("counselor")
    lead("Mine", owner=me, status="invalid")
    lead("Nobodys")
    page = get(q="nob")
    assert link(page, "Clear all") == "/staff/?owner=any"
    page = get(owner="any")
    assert link(page, "Clear all") is None  # nothing left to clear
    assert sorted(names(page)) == ["Mine", "Nobodys"]


def test_managers_keep_every_lead_as_their_start_view(get, lead, login_as, make_staff):
    counselor = make_staff("counselor")
    login_as("manager")
    lead("Closed", owner=counselor, status="not_interested")
    lead("Open")
    page = get()
    assert sorted(names(page)) == ["Closed", "Open"]
    assert "Your open leads" not in page
    assert names(get(status="open")) == ["Open"]
    assert tab_count(page, "Open") == "1"
    assert tab_count(page, "All") == "2"


def test_overdue_follow_ups_are_most_overdue_first(get, lead, login_as):
    login_as("manager")
    now = utcnow()
    # The request order is the reverse of the follow-up order: the newest request is the
    # follow-up missed longest ago.
    lead("Minutes", age=dt.timedelta(days=9), follow_up=now - dt.timedelta(minutes=5))
    lead("Day", age=dt.timedelta(days=5), follow_up=now - dt.timedelta(days=1))
    lead("Week", age=dt.timedelta(days=1), follow_up=now - dt.timedelta(days=7))
    lead("Soon", age=dt.timedelta(days=2), follow_up=now + dt.timedelta(days=1))
    page = get(overdue="1")
    assert names(page) == ["Week", "Day", "Minutes"]
    assert re.search(r'<option value="follow_up" selected>', page)
    # A sort chosen on purpose still applies.
    assert names(get(overdue="1", sort="oldest")) == ["Minutes", "Day", "Week"]


def test_the_overdue_button_drops_a_sort_chosen_before(get, lead, login_as):
    login_as("manager")
    page = get(sort="oldest")
    href = re.search(r'href="([^"]*)"[^>]*>\s*Overdue follow-ups', page).group(1)
    assert html.unescape(href) == "/staff/?overdue=1"


def test_bulk_messages_read_as_sentences(client, login_as, lead, make_staff, db):
    dana = make_staff("counselor", name="Dana Whitfield")
    login_as("manager")
    a, b, c = lead("A"), lead("B"), lead("C")
    ids = [a.id, b.id, c.id]

    def said(**form) -> str:
        response = _bulk(client, ids, **form)
        page = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
        return re.search(r'<div class="alert[^"]*"[^>]*>\s*(.*?)\s*<', page, re.S).group(1)

    assert said(action="assign", owner="none") == (
        "No leads changed: the 3 selected were already unassigned."
    )
    ids = [a.id, b.id]
    assert said(action="assign", owner=str(dana.id)) == "Assigned 2 leads to Dana Whitfield."
    ids = [a.id, b.id, c.id]
    assert said(action="assign", owner=str(dana.id)) == (
        "Assigned 1 lead to Dana Whitfield; 2 leads were already assigned to Dana Whitfield."
    )
    assert said(action="assign", owner="none") == "Moved 3 leads to the unassigned queue."
    ids = [a.id]
    assert said(action="status", status="contacted") == "Moved 1 lead to Contacted."
    assert said(action="status", status="contacted") == (
        "No change: the selected lead was already Contacted."
    )


def test_phone_numbers_read_the_same_way_everywhere(client, get, lead, login_as):
    login_as("manager")
    home = lead("Home", phone="317-555-0123")
    abroad = lead("Abroad", phone="+44 20 7946 0958", country="GB", postal_code="SW1A 1AA")
    page = get()
    assert "(317) 555-0123" in page  # national: the staff's own country
    assert "+44 20 7946 0958" in page  # international: another country's
    assert "+13175550123" not in page
    lead_page = client.get(f"/staff/leads/{home.id}").get_data(as_text=True)
    assert ">(317) 555-0123</a>" in lead_page
    assert ">+13175550123<" not in lead_page  # one format, not two
    assert 'href="tel:+13175550123"' in lead_page  # dialing keeps E.164
    lead_page = client.get(f"/staff/leads/{abroad.id}").get_data(as_text=True)
    assert ">+44 20 7946 0958</a>" in lead_page


# The lead page in its queue view: the way back and the leads before and after it


def _nav(page: str) -> dict[str, str | None]:
    """The lead page's breadcrumb and previous/next links."""
    crumbs = re.search(r'aria-label="Breadcrumb".*?href="([^"]+)"', page, re.S)
    found = {"queue": html.unescape(crumbs.group(1))}
    for rel in ("prev", "next"):
        match = re.search(rf'href="([^"]+)" rel="{rel}"', page)
        found[rel] = html.unescape(match.group(1)) if match else None
    return found


def test_the_breadcrumb_goes_back_to_the_view_the_lead_was_opened_from(client, get, lead, login_as):
    login_as("manager")
    made = lead("Ann", status="qualified")
    page = get(status="qualified", sort="oldest", q="an")
    row = html.unescape(re.search(r'href="(/staff/leads/\d+\?from=[^"]*)"', page).group(1))
    lead_page = client.get(row).get_data(as_text=True)
    assert _nav(lead_page)["queue"] == "/staff/?q=an&status=qualified&sort=oldest"
    # Only the queue's own parameters come back.
    evil = urlencode({"from": "status=new&evil=1&next=https://evil.example"})
    lead_page = client.get(f"/staff/leads/{made.id}?{evil}").get_data(as_text=True)
    assert _nav(lead_page)["queue"] == "/staff/?status=new"
    # Control characters (NUL: PostgreSQL refuses it in a query) are dropped, not searched.
    nul = urlencode({"from": "status=new&q=a\x00b&campaign=x\u202ey"})
    response = client.get(f"/staff/leads/{made.id}?{nul}")
    assert response.status_code == 200
    assert _nav(response.get_data(as_text=True))["queue"] == "/staff/?status=new"
    # Opened some other way (an email link): the plain queue, no neighbours.
    lead_page = client.get(f"/staff/leads/{made.id}").get_data(as_text=True)
    assert _nav(lead_page) == {"queue": "/staff/", "prev": None, "next": None}
    # Working the lead keeps the view it came from.
    response = client.post(row.replace("?", "/notes?"), data={"body": "Called back"})
    assert response.status_code == 303
    lead_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Note added." in lead_page
    assert _nav(lead_page)["queue"] == "/staff/?q=an&status=qualified&sort=oldest"


@pytest.mark.parametrize("sort", ["newest", "oldest", "follow_up"])
def test_previous_and_next_walk_the_view_in_its_order(
    app, client, get, login_as, thirty_leads, sort
):
    set_config(app, QUEUE_PAGE_SIZE=7)
    login_as("manager")
    queue_order = [i for p in _walk(get, {"sort": sort}) for i in p]
    first = re.search(r'href="(/staff/leads/\d+\?from=[^"]*)"', get(sort=sort)).group(1)
    walked, url = [], html.unescape(first)
    for _ in range(40):
        page = client.get(url).get_data(as_text=True)
        walked.append(int(re.search(r"/ Lead (\d+)<", page).group(1)))
        nav = _nav(page)
        if nav["next"] is None:
            break
        url = nav["next"]
    assert walked == queue_order
    assert _nav(page)["prev"] is not None
    back, url = [], _nav(page)["prev"]
    while url:
        page = client.get(url).get_data(as_text=True)
        back.append(int(re.search(r"/ Lead (\d+)<", page).group(1)))
        url = _nav(page)["prev"]
    assert back == queue_order[-2::-1]
    assert 'aria-disabled="true">‹ Previous' in page


def test_neighbours_keep_the_filters_and_the_viewers_privacy(
    client, lead, login_as, make_staff, db
):
    other = make_staff("counselor")
    me = login_as("counselor")
    a = lead("A", owner=me, age=dt.timedelta(hours=4))
    lead("Theirs", owner=other, age=dt.timedelta(hours=3))
    lead("Closed", owner=me, status="invalid", age=dt.timedelta(hours=2))
    c = lead("C", age=dt.timedelta(hours=1))
    from_all = urlencode({"from": "owner=any"})
    page = client.get(f"/staff/leads/{c.id}?{from_all}").get_data(as_text=True)
    assert _nav(page)["prev"] is None  # C is the newest
    closed_url = _nav(page)["next"]
    assert "Theirs" not in page
    page = client.get(closed_url).get_data(as_text=True)
    assert ">Closed</h1>" in page
    assert _nav(page)["next"] == f"/staff/leads/{a.id}?from=owner%3Dany"
    # In the counselor's start view (their own open leads), A is alone...
    from_start = urlencode({"from": ""})
    page = client.get(f"/staff/leads/{a.id}?{from_start}").get_data(as_text=True)
    assert (_nav(page)["prev"], _nav(page)["next"]) == (None, None)
    # ... and a lead just closed, out of the view now, still finds its neighbours.
    db.execute(update(Lead).where(Lead.id == a.id).values(status="unreachable"))
    mine = lead("Mine", owner=me, age=dt.timedelta(hours=5))
    db.commit()
    page = client.get(f"/staff/leads/{a.id}?{from_start}").get_data(as_text=True)
    assert _nav(page)["next"] == f"/staff/leads/{mine.id}?from="
