"""Queue search the way counselors type: no accents, any case, any word of the name."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from factories import PG_URL, set_config, valid_form
from test_staff_queue import _nav, link, names

from leadform.core.leads.search import fold, match_rank, search_name
from leadform.db import utcnow


@pytest.fixture
def get(client):
    def do(**params: str) -> str:
        response = client.get("/staff/", query_string={"owner": "any", **params})
        assert response.status_code == 200
        return response.get_data(as_text=True)

    return do


@pytest.fixture
def lead(make_lead, db):
    """A lead for a person with these names, its request `age` ago (older ones lower down)."""
    counter = iter(range(1, 10_000))

    def make(first_name: str, last_name: str, *, age: dt.timedelta | None = None, **values):
        email = values.pop("email", None) or f"person{next(counter)}@example.com"
        made = make_lead(email=email, first_name=first_name, last_name=last_name, **values)
        if age is not None:
            made.created_at = made.last_submitted_at = made.created_at - age
        db.commit()
        return made

    return make


@pytest.fixture
def people(lead, login_as):
    login_as("counselor")
    lead("José", "Gómez")
    lead("Nguyễn", "Thị Đức")
    lead("Seán", "Ó Briain")
    lead("Aoife", "O'Connor")
    lead("Jürgen", "Müller")
    lead("Anna", "Straße")
    lead("Joseph", "Smith")


@pytest.mark.parametrize(
    ("typed", "found"),
    [
        # Spanish: accents and capitals do not matter, either way round.
        ("jose", ["José Gómez", "Joseph Smith"]),  # the whole word first, then a prefix
        ("gomez", ["José Gómez"]),
        ("GÓMEZ", ["José Gómez"]),
        ("jose gom", ["José Gómez"]),
        ("Gómez José", ["José Gómez"]),
        # Vietnamese: stacked marks and đ; any word of a name matches, not just the first.
        ("nguyen", ["Nguyễn Thị Đức"]),
        ("duc", ["Nguyễn Thị Đức"]),
        ("thi", ["Nguyễn Thị Đức"]),
        ("NGUYỄN đức", ["Nguyễn Thị Đức"]),
        # Irish: the fada, a particle typed as a word, an apostrophe typed or left out.
        ("sean", ["Seán Ó Briain"]),
        ("o briain", ["Seán Ó Briain"]),
        ("briain", ["Seán Ó Briain"]),
        ("oconnor", ["Aoife O'Connor"]),
        ("o'connor", ["Aoife O'Connor"]),
        ("o connor", ["Aoife O'Connor"]),
        ("connor", ["Aoife O'Connor"]),
        # German: umlauts and ß.
        ("jurgen", ["Jürgen Müller"]),
        ("muller", ["Jürgen Müller"]),
        ("strasse", ["Anna Straße"]),
        ("straße", ["Anna Straße"]),
        # Plain ASCII prefixes still work; a word must match, not just a letter somewhere.
        ("jos", ["Joseph Smith", "José Gómez"]),  # both a prefix: newest first
        ("smi", ["Joseph Smith"]),
        ("zzz", []),
        ("'", []),
    ],
)
def test_names_are_found_without_accents_or_capitals(get, people, typed, found):
    assert names(get(q=typed)) == found


@pytest.mark.skipif(not PG_URL, reason="matching inside a word needs PostgreSQL's trigram index")
def test_postgresql_also_matches_inside_a_name(get, people):
    assert names(get(q="guyen")) == ["Nguyễn Thị Đức"]
    assert names(get(q="ülle")) == ["Jürgen Müller"]
    assert names(get(q="uy")) == []  # two letters: the start of a word only


@pytest.mark.skipif(bool(PG_URL), reason="SQLite matches the start of a word only")
def test_sqlite_matches_the_start_of_a_word(get, people):
    assert names(get(q="guyen")) == []
    assert names(get(q="nguy")) == ["Nguyễn Thị Đức"]


def test_email_search_ignores_accents_and_case(get, lead, login_as):
    login_as("manager")
    lead("Renee", "Dubois", email="renee.dubois@example.com")
    lead("Other", "Person", email="someone@example.com")
    assert names(get(q="Renée.Dubois@")) == ["Renee Dubois"]
    assert names(get(q="RENEE.D")) == ["Renee Dubois"]


def _query(href: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(href).query).items() if k != "owner"}


def test_whole_words_rank_first_then_prefixes_each_newest_first_and_pages_cross_ranks(
    app, get, lead, login_as
):
    """Exact words come first, then word starts; by date within each; keyset pages walk
    from one rank into the next and back."""
    set_config(app, QUEUE_PAGE_SIZE=2)
    login_as("manager")
    lead("Zoé", "Older", age=dt.timedelta(days=3))
    lead("Zoe", "Newest")
    lead("Chloé", "Zoellner", age=dt.timedelta(days=1))
    lead("Zoey", "Prefix", age=dt.timedelta(days=4))
    lead("Other", "Person", age=dt.timedelta(days=2))
    page = get(q="zoe")
    assert names(page) == ["Zoe Newest", "Zoé Older"]
    assert link(page, "Previous page") is None
    href = link(page, "Next page")
    assert href is not None
    assert _query(href)["q"] == "zoe"
    second = get(**_query(href))
    assert names(second) == ["Chloé Zoellner", "Zoey Prefix"]
    assert link(second, "Next page") is None
    back = link(second, "Previous page")
    assert back is not None
    assert names(get(**_query(back))) == ["Zoe Newest", "Zoé Older"]


def test_a_next_page_link_stays_in_its_rank_when_a_better_match_arrives(app, get, lead, login_as):
    set_config(app, QUEUE_PAGE_SIZE=2)
    login_as("manager")
    lead("Zoey", "Third", age=dt.timedelta(days=3))
    lead("Zoey", "Second", age=dt.timedelta(days=2))
    lead("Zoey", "First", age=dt.timedelta(days=1))
    page = get(q="zoe")
    assert names(page) == ["Zoey First", "Zoey Second"]
    href = link(page, "Next page")
    lead("Zoe", "Exact")  # the exact rank was empty when the link was made
    assert names(get(**_query(href))) == ["Zoey Third"]
    assert names(get(q="zoe")) == ["Zoe Exact", "Zoey First"]


def test_ranks_keep_the_chosen_sort_inside_each_rank(get, lead, login_as):
    login_as("manager")
    lead("Zoé", "Older", age=dt.timedelta(days=3))
    lead("Zoe", "Newest")
    lead("Chloé", "Zoellner", age=dt.timedelta(days=1))
    lead("Zoey", "Prefix", age=dt.timedelta(days=4))
    assert names(get(q="zoe", sort="oldest")) == [
        "Zoé Older",
        "Zoe Newest",
        "Zoey Prefix",
        "Chloé Zoellner",
    ]


@pytest.mark.skipif(not PG_URL, reason="matching inside a word needs PostgreSQL's trigram index")
def test_postgresql_ranks_inside_a_word_last(get, lead, login_as):
    login_as("manager")
    lead("Joanne", "Inside")
    lead("Anna", "Prefix", age=dt.timedelta(days=1))
    lead("Ann", "Exact", age=dt.timedelta(days=2))
    assert names(get(q="ann")) == ["Ann Exact", "Anna Prefix", "Joanne Inside"]


def test_an_email_typed_without_its_at_sign_is_found_by_its_start(get, lead, login_as):
    """'maria.gomez1' is the start of an address, not the names Maria and Gomez1."""
    login_as("manager")
    lead("Maria", "Gomez", email="maria.gomez12@example.com")
    lead("Maria", "Gomez", email="mgomez@example.com")
    lead("Mary", "Jane", email="mary-jane@example.com")
    assert names(get(q="maria.gomez1")) == ["Maria Gomez"]
    assert names(get(q="Mary-Jane")) == ["Mary Jane"]


def test_a_search_matching_too_many_people_is_listed_by_date_and_not_counted(
    get, lead, login_as, monkeypatch
):
    """Past RANKED_MATCHES people: the same leads, by date, and the page says why the
    tabs have no counts."""
    from leadform.core.leads import queue

    login_as("manager")
    lead("Zoey", "Prefix", age=dt.timedelta(days=1))
    lead("Zoe", "Exact", age=dt.timedelta(days=2))
    lead("Zoë", "Also", age=dt.timedelta(days=3), status="contacted")
    tab = re.compile(r'<span class="(?:count|badge rounded-pill text-bg-light)">([^<]*)</span>')
    ranked = get(q="zoe")
    assert names(ranked) == ["Zoe Exact", "Zoë Also", "Zoey Prefix"]
    assert tab.findall(ranked)[:5] == [
        "0",
        "3",
        "0",
        "3",
        "3",
    ]  # mine, unassigned, overdue, open, all
    assert "queue-uncounted" not in ranked
    monkeypatch.setattr(queue, "RANKED_MATCHES", 2)
    by_date = get(q="zoe")
    assert names(by_date) == ["Zoey Prefix", "Zoe Exact", "Zoë Also"]
    assert set(tab.findall(by_date)) == {""}
    assert "More than 2 people match this search" in by_date
    assert names(get(q="zoe", status="contacted")) == ["Zoë Also"]


def _lead_nav(client, lead_id: int, origin: str) -> tuple[str | None, str | None]:
    """The lead page's previous and next lead links (paths), opened from a queue view."""
    page = client.get(f"/staff/leads/{lead_id}?" + urlencode({"from": origin}))
    nav = _nav(page.get_data(as_text=True))
    prev, after = nav["prev"], nav["next"]
    return (prev and prev.split("?")[0], after and after.split("?")[0])


def test_a_lead_page_opened_from_a_ranked_search_links_its_neighbours_across_ranks(
    client, lead, login_as, db
):
    login_as("manager")
    a = lead("Zoe", "A", age=dt.timedelta(hours=1))
    b = lead("Zoe", "B", age=dt.timedelta(hours=2))
    c = lead("Zoey", "C", age=dt.timedelta(hours=3))
    d = lead("Zoey", "D", age=dt.timedelta(hours=4))
    origin = "owner=any&q=zoe"
    assert _lead_nav(client, b.id, origin) == (f"/staff/leads/{a.id}", f"/staff/leads/{c.id}")
    assert _lead_nav(client, c.id, origin) == (f"/staff/leads/{b.id}", f"/staff/leads/{d.id}")
    # Its name corrected so that it no longer matches: still between the same two.
    b.prospect.first_name = "Chloe"
    db.commit()
    assert _lead_nav(client, b.id, origin) == (f"/staff/leads/{a.id}", f"/staff/leads/{c.id}")


def test_a_page_link_from_before_the_search_crossed_the_ranking_limit_starts_over(
    app, get, lead, login_as, monkeypatch
):
    """A cursor says whether it walks ranks: one made when the search was listed by date,
    followed once it is ranked (or the other way), shows the first page, never a page
    that repeats or skips rows."""
    from leadform.core.leads import queue

    set_config(app, QUEUE_PAGE_SIZE=2)
    login_as("manager")
    lead("Zoey", "P1", age=dt.timedelta(hours=1))
    lead("Zoe", "E1", age=dt.timedelta(hours=2))
    lead("Zoey", "P2", age=dt.timedelta(hours=3))
    lead("Zoe", "E2", age=dt.timedelta(hours=4))
    monkeypatch.setattr(queue, "RANKED_MATCHES", 3)
    by_date = get(q="zoe")
    assert names(by_date) == ["Zoey P1", "Zoe E1"]
    href = link(by_date, "Next page")
    monkeypatch.setattr(queue, "RANKED_MATCHES", 1000)
    again = get(**_query(href))
    assert names(again) == ["Zoe E1", "Zoe E2"]  # the ranked first page
    assert link(again, "Previous page") is None
    ranked_next = link(again, "Next page")
    monkeypatch.setattr(queue, "RANKED_MATCHES", 3)
    assert names(get(**_query(ranked_next))) == ["Zoey P1", "Zoe E1"]


def test_a_counselors_search_ranks_and_counts_only_people_they_may_see(
    get, lead, login_as, make_staff, monkeypatch
):
    """Others' matches neither make a counselor's search too broad to count nor show."""
    from leadform.core.leads import queue

    other = make_staff("counselor")
    me = login_as("counselor")
    for i in range(3):
        lead("Zoe", f"Theirs{i}", owner=other)
    lead("Zoe", "Mine", owner=me)
    lead("Zoey", "Unassigned")
    monkeypatch.setattr(queue, "RANKED_MATCHES", 2)
    page = get(q="zoe")
    assert names(page) == ["Zoe Mine", "Zoey Unassigned"]
    assert "people match this search" not in page
    tab = re.compile(r'<span class="(?:count|badge rounded-pill text-bg-light)">([^<]*)</span>')
    assert tab.findall(page)[:5] == [
        "1",
        "1",
        "0",
        "2",
        "2",
    ]  # mine, unassigned, overdue, open, all


def test_counts_in_one_pass_equal_the_capped_counts_under_every_filter(db, lead, make_staff):
    """A narrow search counts every tab in one scan of its leads; the queue without a
    search counts each tab as a capped index range. Where the search matches every lead,
    both must give the same numbers, for a manager and a counselor, under any filters."""
    from leadform.core.leads import queue

    me, other = make_staff("counselor"), make_staff("counselor")
    now = utcnow()
    statuses = ("new", "contacted", "enrolled", "not_interested")
    for i in range(24):
        made = lead(
            "Zoe" if i % 3 else "Zoey",
            f"Person{i}",
            status=statuses[i % 4],
            owner=(me, other, None)[i % 3],
            age=dt.timedelta(hours=i),
        )
        if i % 2:
            made.next_follow_up_at = now + dt.timedelta(days=(i % 5) - 2)
    db.commit()
    viewers = (
        queue.Viewer(user_id=me.id, sees_all=False),
        queue.Viewer(user_id=me.id, sees_all=True),
    )
    variants = (
        {},
        {"status": "new"},
        {"status": queue.OPEN},
        {"owner": other.id},
        {"unassigned": True},
        {"overdue": True},
        {"status": "contacted", "owner": me.id, "overdue": True},
    )
    checked = 0
    for viewer in viewers:
        for extra in variants:
            searched = queue.QueueFilters(search="zoe", **extra)
            assert queue.resolve_search(db, "zoe").bounded
            narrow = queue.tab_counts(db, searched, viewer, now=now, cap=1000)
            capped = queue.tab_counts(db, queue.QueueFilters(**extra), viewer, now=now, cap=1000)
            assert narrow == capped, (viewer, extra)
            checked += narrow.all
    assert checked > 0


@pytest.mark.parametrize(
    ("name", "email", "terms", "rank"),
    [
        (" jose gomez", "j@example.com", ["jose"], 0),
        (" jose gomez", "j@example.com", ["jose", "gom"], 1),
        (" joseph smith", "j@example.com", ["jose"], 1),
        (" maria lopez", "jose.l@example.com", ["jose"], 1),  # the start of the email
        (" joanne inside", "j@example.com", ["ann"], 2),
        (" ann exact", "j@example.com", ["ann", "xac"], 2),  # the worst term decides
    ],
)
def test_match_rank(name, email, terms, rank):
    assert match_rank(name, email, terms) == rank


def test_a_request_with_new_names_is_searchable_by_them(client, submit, get, login_as):
    """Intake stores the folded names with the person, and a newer request replaces them."""
    form = valid_form()
    assert submit({**form, "first_name": "Zoë", "last_name": "Brontë"}).status_code == 303
    assert submit({**form, "first_name": "Đorđe", "last_name": "Bálint"}).status_code == 303
    login_as("manager")
    assert names(get(q="dorde balint")) == ["Đorđe Bálint"]
    assert names(get(q="bronte")) == []


def test_fold():
    assert fold("Nguyễn Thị Đức") == "nguyen thi duc"
    assert fold("  O'Connor-Smith  Jr. ") == "o connor smith jr"
    assert fold("Łódź Søren Ærø Œuvre Iıl Þór") == "lodz soren aero oeuvre iil thor"
    assert search_name("Aoife", "O’Connor") == " aoife o connor oconnor"
