"""Queue search the way counselors type: no accents, any case, any word of the name."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from factories import PG_URL, set_config, valid_form
from test_staff_queue import link, names

from leadform.core.leads.search import fold, search_name


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
        ("jose", ["Joseph Smith", "José Gómez"]),  # a prefix of Joseph too; newest first
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
        ("jos", ["Joseph Smith", "José Gómez"]),
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


def test_results_stay_in_date_order_and_page_by_date(app, get, lead, login_as):
    """Search narrows the queue; the order stays newest first so keyset pages still work."""
    set_config(app, QUEUE_PAGE_SIZE=2)
    login_as("manager")
    lead("Zoé", "Older", age=dt.timedelta(days=3))
    lead("Zoe", "Newest")
    lead("Chloé", "Zoellner", age=dt.timedelta(days=1))
    lead("Other", "Person", age=dt.timedelta(days=2))
    page = get(q="zoe")
    assert names(page) == ["Zoe Newest", "Chloé Zoellner"]
    href = link(page, "Next page")
    assert href is not None
    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert query["q"] == "zoe"
    page = get(**{k: v for k, v in query.items() if k != "owner"})
    assert names(page) == ["Zoé Older"]
    assert link(page, "Next page") is None


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
