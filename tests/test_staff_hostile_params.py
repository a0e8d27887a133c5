"""Hostile values in every query parameter of every staff page: never a 5xx.

The pages and their parameters come from the app: the URL map lists the GET pages (a new
page without an entry below fails), the queue filter form lists the filters, and each page
is watched while it runs to see which query keys it reads (a key read but not listed here
fails). PostgreSQL refuses NUL in text and ids above 2^31-1, where SQLite stores anything:
run this file on both (LEADFORM_TEST_DATABASE_URL).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from factories import PG_URL, create_lead, hidden_fields, valid_form
from flask import Flask, g, request
from sqlalchemy import select, text
from werkzeug.datastructures import ImmutableMultiDict
from wtforms.fields.core import UnboundField

from leadform import create_app
from leadform.context import get_engine, get_session, settings
from leadform.core.accounts import users
from leadform.core.leads.queue import FILTER_ARGS, SORTS
from leadform.core.programs import load_catalog, read_catalog
from leadform.db import Base
from leadform.models import Lead
from leadform.web.staff import delivery_views, spam_views
from leadform.web.staff.views import PAGE_ARGS, QueueFilterForm

PASSWORD = "correct horse battery"
MANAGER = "manager@staff.example.com"

#: The queue's filters as its form declares them, and the keyset page arguments.
QUEUE_PARAMS = tuple(
    name for name, value in vars(QueueFilterForm).items() if isinstance(value, UnboundField)
) + tuple(PAGE_ARGS)

#: Every GET page under /staff: (path, the query parameters it reads).
PAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "staff.queue": ("/staff/", QUEUE_PARAMS),
    "staff.export_csv": ("/staff/leads/export.csv", QUEUE_PARAMS),
    "staff.lead_detail": ("/staff/leads/{lead_id}", ("from",)),
    "staff.spam_review": ("/staff/spam", tuple(spam_views.QUERY_ARGS)),
    "staff.delivery": ("/staff/delivery", tuple(delivery_views.QUERY_ARGS)),
    "staff.login": ("/staff/login", ("next",)),
}


def _cursor(sort: str, segment: int, values: list[Any]) -> str:
    raw = json.dumps([sort, segment, values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_WHEN = "2030-01-01T00:00:00+00:00"
#: Keyset cursors as the queue makes them, with values no row has: ids beyond a 32-bit
#: integer either way, and times at the ends of the calendar that no time zone math survives.
CURSORS = [
    _cursor(sort, segment, [when, ident])
    for sort in SORTS
    for segment in (0, 1)
    for when, ident in (
        (_WHEN, 2**31),
        (_WHEN, 2**63),
        (_WHEN, -(2**31) - 1),
        (_WHEN, 10**30),
        ("0001-01-01T00:00:00+14:00", 1),
        ("9999-12-31T23:59:59-14:00", 1),
    )
]

#: (label, raw query-string value): already percent-encoded, so invalid UTF-8 can be sent.
HOSTILE: list[tuple[str, str]] = [
    ("nul", quote("a\x00b")),
    ("nul-email", quote("x\x00@example.com")),  # the search's email branch
    ("nul-phone", quote("317555\x000123")),  # and its phone branch
    ("long", "x" * 5000),
    ("invalid-utf8", "%ff%fe%ed%a0%80"),
    ("huge-int", "9" * 40),
    ("int4-overflow", "2147483648"),
    ("negative", "-9223372036854775809"),
    ("unicode-digits", quote("١٢٣²")),
    ("sql", quote("' OR 1=1 --%_\\")),
    ("control-and-bidi", quote("\x1b[31m\x7f\u202e")),
    ("empty", ""),
    ("date-far", "99999-01-01"),
    ("array", "a&{param}=b"),
]
#: For the keyset arguments: cursors as the queue makes them, holding values no row has.
HOSTILE_CURSORS = [(f"cursor-{n}", quote(token)) for n, token in enumerate(CURSORS)]
#: The parameters that carry a keyset position.
CURSOR_PARAMS = {"after", "before"}


def _fill(path: str, lead_id: int) -> str:
    return path.format(lead_id=lead_id)


# --- one app for the module: hundreds of requests, one schema ------------------------------


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory: Any, _pg_schema: None) -> Iterator[Flask]:
    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('params')}/params.db"
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "hostile-params-secret-key-long-enough-0123456789",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "MIN_FORM_SECONDS": 0,
            "ARGON2_PROFILE": "CHEAPEST",
        }
    )
    with app.app_context():
        if not PG_URL:
            Base.metadata.create_all(get_engine())
        session = get_session()
        load_catalog(session, read_catalog())
        session.commit()
        users.create_user(
            session, MANAGER, "Mo Manager", "manager", PASSWORD, argon2_profile="CHEAPEST"
        )
        session.commit()
        create_lead(session, settings(), "pat@example.com", utm_source="google")
    # One request held as spam, so the review page has something to show.
    public = app.test_client()
    fields = hidden_fields(public.get("/request-info").get_data(as_text=True))
    fields.pop("program", None)
    form = {**fields, **valid_form(email="held@example.com", website="https://x.example")}
    assert public.post("/request-info", data=form).status_code == 303
    yield app
    with app.app_context():
        if PG_URL:
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            with get_engine().begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        get_engine().dispose()


@pytest.fixture(scope="module")
def lead_id(hostile_app: Flask) -> int:
    with hostile_app.app_context():
        return get_session().scalars(select(Lead.id)).one()


@pytest.fixture(scope="module")
def manager(hostile_app: Flask) -> Any:
    client = hostile_app.test_client()
    response = client.post("/staff/login", data={"email": MANAGER, "password": PASSWORD})
    assert response.status_code == 303
    return client


def _get(client: Any, path: str, query: str) -> tuple[int, str]:
    """The status of a GET (an exception escaping the app counts as a 500)."""
    try:
        response = client.get(path, query_string=query)
        response.get_data()  # run a streamed body (the export) to its end
    except Exception as exc:  # noqa: BLE001  # TESTING re-raises what would be a 500
        return 500, f"{type(exc).__name__}: {str(exc)[:200]}"
    return response.status_code, ""


# --- the list is complete -----------------------------------------------------------------


def _get_endpoints(app: Flask) -> set[str]:
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/staff")
        and not rule.endpoint.endswith("static")
        and "GET" in (rule.methods or set())
    }


def test_every_staff_get_page_is_listed(hostile_app):
    assert _get_endpoints(hostile_app) == set(PAGES)


def test_the_queue_form_and_the_filter_args_agree():
    assert set(QUEUE_PARAMS) == set(FILTER_ARGS) | set(PAGE_ARGS)


class _RecordingArgs(ImmutableMultiDict):  # type: ignore[type-arg]
    """request.args that notes each key a view reads."""

    def __getitem__(self, key: Any) -> Any:
        g.setdefault("args_read", set()).add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # noqa: A002
        g.setdefault("args_read", set()).add(key)
        return super().get(key, default, type)

    def getlist(self, key: Any, type: Any = None) -> Any:  # noqa: A002
        g.setdefault("args_read", set()).add(key)
        return super().getlist(key, type)

    def __contains__(self, key: object) -> bool:
        g.setdefault("args_read", set()).add(key)
        return super().__contains__(key)


@pytest.mark.parametrize("endpoint", sorted(PAGES))
def test_every_query_key_a_page_reads_is_listed(hostile_app, manager, lead_id, endpoint):
    read: set[str] = set()

    def watch() -> None:
        request.args = _RecordingArgs(request.args)

    def collect(response: Any) -> Any:
        read.update(g.get("args_read", set()))
        return response

    path, params = PAGES[endpoint]
    hostile_app.before_request_funcs.setdefault(None, []).insert(0, watch)
    hostile_app.after_request_funcs.setdefault(None, []).append(collect)
    try:
        anonymous = hostile_app.test_client()
        for client in (manager, anonymous):
            for query in ("", "&".join(f"{p}=1" for p in params)):
                _get(client, _fill(path, lead_id), query)
    finally:
        hostile_app.before_request_funcs[None].remove(watch)
        hostile_app.after_request_funcs[None].remove(collect)
    assert read <= set(params), f"{endpoint} reads {sorted(read - set(params))}: list them"


# --- hostile values -----------------------------------------------------------------------

CASES = [(endpoint, param) for endpoint, (_, params) in sorted(PAGES.items()) for param in params]


def _query(param: str, value: str) -> str:
    return f"{param}={value.format(param=param)}"


@pytest.mark.parametrize(("endpoint", "param"), CASES, ids=[f"{e}-{p}" for e, p in CASES])
def test_hostile_values_in_a_query_parameter_never_error(
    hostile_app, manager, lead_id, endpoint, param
):
    path = _fill(PAGES[endpoint][0], lead_id)
    values = HOSTILE + (HOSTILE_CURSORS if param in CURSOR_PARAMS else [])
    failures = []
    for label, value in values:
        status, error = _get(manager, path, _query(param, value))
        if status >= 500:
            failures.append(f"{label}: {status} {error}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("endpoint", sorted(PAGES))
def test_hostile_values_never_error_signed_out(hostile_app, lead_id, endpoint):
    # Signed out, a page sends the visitor to sign in and back: every parameter at once.
    path, params = PAGES[endpoint]
    anonymous = hostile_app.test_client()
    failures = []
    for label, value in HOSTILE + HOSTILE_CURSORS:
        query = "&".join(_query(param, value) for param in params)
        status, error = _get(anonymous, _fill(path, lead_id), query)
        if status >= 500:
            failures.append(f"{label}: {status} {error}")
    assert not failures, "\n".join(failures)


#: Values for the lead page's id in the path (the converter caps it at 2^31-1).
PATH_IDS = ["2147483648", "9" * 40, "-1", "0", quote("١٢٣"), quote("²"), "%00", "1%00"]


@pytest.mark.parametrize("raw", PATH_IDS)
def test_hostile_lead_ids_in_the_path_never_error(manager, raw):
    status, error = _get(manager, f"/staff/leads/{raw}", "")
    assert status < 500, error
    assert status in (404, 200)


def test_signing_in_with_a_hostile_next_goes_to_the_workspace(hostile_app):
    for label, value in HOSTILE:
        client = hostile_app.test_client()
        response = client.post(
            f"/staff/login?{_query('next', value)}", data={"email": MANAGER, "password": PASSWORD}
        )
        assert response.status_code == 303, label
        assert response.headers["Location"].startswith("/staff/"), label


# --- what the person sees -------------------------------------------------------------------


@pytest.mark.parametrize("param", ["q", "source", "medium", "campaign"])
def test_a_nul_in_a_text_filter_is_shown_as_an_error_and_ignored(manager, param):
    response = manager.get("/staff/", query_string=f"{param}=goo%00gle")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'id="{param}-error"' in page
    assert "Remove the special or invisible characters" in page
    assert "Pat Jones" in page  # the filter was not applied


def test_the_export_refuses_a_nul_in_the_search(manager):
    response = manager.get("/staff/leads/export.csv", query_string="q=a%00")
    assert response.status_code == 422
    assert response.mimetype == "text/plain"
    assert "Search: Remove the special or invisible characters" in response.get_data(as_text=True)


@pytest.mark.parametrize("token", CURSORS[:6])
def test_a_cursor_beyond_any_row_starts_from_the_top(manager, token):
    response = manager.get("/staff/", query_string={"after": token})
    assert response.status_code == 200
    assert "Pat Jones" in response.get_data(as_text=True)


def test_a_nul_email_at_sign_in_is_a_wrong_password(hostile_app):
    client = hostile_app.test_client()
    response = client.post("/staff/login", data={"email": "a\x00@example.com", "password": "x"})
    assert response.status_code == 401
    assert "don&#39;t match an active account" in response.get_data(as_text=True)
