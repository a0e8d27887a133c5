"""The submit path's cost stays down (issue 11 part 3): what a stored POST does not do.

The work a submission needs (CSRF, tokens, validation, dedupe, evidence, outbox) is checked
everywhere else; these tests pin the shortcuts that keep it cheap, so they do not quietly
grow back: the POST reads its fields without building the WTForms form (and reads them
exactly as the form would), and a new person's submission takes a fixed few statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from factories import PROGRAM, valid_form
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from werkzeug.datastructures import MultiDict

from leadform.context import get_engine
from leadform.core.intake.inquiry import FIELDS, UTM_FIELDS
from leadform.web.public import views as public_views
from leadform.web.request_form import forms as request_forms
from leadform.web.request_form.forms import RequestInfoForm, read_sent


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The catalog cached, as in production: a POST reads no catalog."""
    return {**app_config, "CATALOG_CACHE_SECONDS": 60}


NAMES = [*FIELDS, "website", *UTM_FIELDS, "form_token", "csrf_token", "other"]
# Values a browser or a bot may send: checkbox spellings, spaces, empty, odd text.
VALUES = st.one_of(
    st.sampled_from(["", " ", "y", "on", "no", "off", "0", "false", "False", "1", " US ", "CA"]),
    st.text(max_size=12),
)


@given(pairs=st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=30))
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fields_are_read_as_the_form_reads_them(app: Flask, pairs: list[tuple[str, str]]) -> None:
    formdata = MultiDict(pairs)
    with app.test_request_context("/request-info", method="POST"):
        form = RequestInfoForm(formdata, programs=())
        sent = read_sent(formdata)
    assert sent.fields == form.fields_sent()
    assert sent.website == (form.website.data or "")
    assert sent.utm == form.utm()


@pytest.fixture
def forms_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many RequestInfoForm the program pages' views build."""
    built: list[int] = []

    class Counted(RequestInfoForm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(public_views, "RequestInfoForm", Counted)
    return built


def test_a_stored_post_builds_no_form(
    client: Any, submit: Any, db: Any, forms_built: list[int]
) -> None:
    client.get("/request-info")  # the blank page is rendered once, then served from cache
    forms_built.clear()
    response = submit(valid_form())
    assert response.status_code == 303
    assert forms_built == []


def test_a_post_shown_again_builds_the_form(
    client: Any, submit: Any, db: Any, forms_built: list[int]
) -> None:
    client.get("/request-info")
    forms_built.clear()
    response = submit(valid_form(email="not an email"))
    assert response.status_code == 422
    assert forms_built == [1]
    assert "Enter" in response.get_data(as_text=True)


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements run while the test makes its requests (BEGIN and pings left out)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        word = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
        if (
            word in {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}
            and statement.strip() != "SELECT 1"
        ):
            seen.append(statement)

    with app.app_context():
        engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_new_persons_submission_takes_few_statements(
    app: Flask, client: Any, submit: Any, db: Any, statements: list[str]
) -> None:
    """Nothing read back, no catalog query. SQLite: prospect, lead, submission, activity,
    outbox. PostgreSQL: the prospect (drawing the new rows' ids), then the lead with its
    submission, activity and events in one statement."""
    assert client.get(f"/request-info?program={PROGRAM}").status_code == 200  # catalog cached
    statements.clear()
    assert submit(valid_form(email="new.person@example.com")).status_code == 303
    kinds = [s.split("(", 1)[0].split()[:3] for s in statements]
    with app.app_context():
        postgresql = get_engine().dialect.name == "postgresql"
    assert len(statements) == (2 if postgresql else 5), kinds


def test_every_request_field_has_a_reader() -> None:
    """Every request-info field has a reader (a new field type must get one)."""
    readers = dict(request_forms._readers())
    assert set(readers) == {*FIELDS, "website", *UTM_FIELDS}


def _bad_characters_char_by_char(value: str, multiline: bool) -> bool:
    """The rule as first written: a category lookup per character."""
    import unicodedata

    from leadform.core.intake.validation import _BIDI_CONTROLS

    for ch in value:
        if multiline and ch in "\n\r\t":
            continue
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            return True
    return False


@given(
    value=st.one_of(st.text(max_size=40), st.text(st.characters(max_codepoint=127), max_size=40)),
    multiline=st.booleans(),
)
@settings(max_examples=500, deadline=None)
def test_the_ascii_shortcut_finds_what_the_character_rule_finds(
    value: str, multiline: bool
) -> None:
    from leadform.core.intake.validation import bad_characters

    assert bad_characters(value, multiline=multiline) == _bad_characters_char_by_char(
        value, multiline
    )
