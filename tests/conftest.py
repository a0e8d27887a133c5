"""Fixtures: a fresh app per test on SQLite (or PostgreSQL via LEADFORM_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from factories import PG_URL, create_lead, hidden_fields, valid_form
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from testdb import DatabaseSetupError, ensure_database

from leadform import create_app
from leadform.context import get_engine, get_session, settings
from leadform.core.accounts import users
from leadform.core.programs import load_catalog, read_catalog
from leadform.db import Base, build_engine
from leadform.models import Program


def pytest_sessionstart(session: pytest.Session) -> None:
    """On PostgreSQL: create the test database first when it does not exist yet."""
    try:
        created = ensure_database(PG_URL)
    except DatabaseSetupError as exc:
        raise pytest.UsageError(str(exc)) from None
    if created:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"created the test database {make_url(PG_URL or '').database}")


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[None]:
    """On PostgreSQL: build the schema once per run; tests empty the tables afterwards."""
    if not PG_URL:
        yield
        return
    engine = build_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        Base.metadata.create_all(conn)
    engine.dispose()
    yield


def _truncate_all(app: Flask) -> None:
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with get_engine().begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def database_url(tmp_path: Any, _pg_schema: None) -> str:
    """The database this test runs on: a fresh SQLite file, or the shared PostgreSQL one."""
    return PG_URL or f"sqlite:///{tmp_path}/test.db"


@pytest.fixture
def app_config(database_url: str, tmp_path: Any) -> dict[str, Any]:
    """The test configuration; tests may change it before `app` is built."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "DATABASE_URL": database_url,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "MIN_FORM_SECONDS": 0,
        "ARGON2_PROFILE": "CHEAPEST",
        "CATALOG_CACHE_SECONDS": 0,  # tests change programs and consent and look at once
    }


def _fresh_request_globals() -> None:
    """Start each request with an empty `g`, as in production, except the database session.

    A test holding an app context (the `db` fixture) makes its requests share that context's
    `g`. Sharing the session is what the tests want; sharing the signed-in user, the CSRF
    token or the CSP nonce cached in `g` is not (a copied cookie would seem to keep working).
    """
    for name in [name for name in g if name != "db_session"]:
        g.pop(name)


def _end_request_transaction(_exc: BaseException | None) -> None:
    """Drop what a request did not commit, as production does when it closes the session.

    Also ends the transaction, which on SQLite holds the write lock, so a test can read
    on a connection of its own after a view that only read.
    """
    session = g.get("db_session")
    if session is not None:
        session.rollback()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: Any) -> Any:
    """On SQLite: one database file with the schema and the catalog, copied for each test.

    Creating the schema costs each test some 50 ms of CPU and many fsyncs; a copy, almost none.
    """
    if PG_URL:
        return None
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = build_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        load_catalog(session, read_catalog())
        session.commit()
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture
def app(app_config: dict[str, Any], _sqlite_template: Any) -> Iterator[Flask]:
    """A fresh app with the schema, the bundled catalog and its consent text."""
    copied = False
    if not PG_URL:
        target = make_url(app_config["DATABASE_URL"]).database
        if target and target != ":memory:" and not os.path.exists(target):
            shutil.copyfile(_sqlite_template, target)
            copied = True
    app = create_app(app_config)
    app.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    app.teardown_request(_end_request_transaction)
    if not copied:
        with app.app_context():
            if not PG_URL:
                Base.metadata.create_all(get_engine())
            session = get_session()
            load_catalog(session, read_catalog())
            session.commit()
    yield app
    with app.app_context():
        if PG_URL:
            _truncate_all(app)
        get_engine().dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the app."""
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session inside an app context, for arranging and inspecting data."""
    with app.app_context():
        yield get_session()


@pytest.fixture
def make_program(db: Session) -> Callable[..., Program]:
    """Create a program: make_program(slug="x", name="X", active=True)."""

    def make(slug: str = "test-program", **values: Any) -> Program:
        values.setdefault("name", slug.replace("-", " ").title())
        values.setdefault("level", "certificate")
        program = Program(slug=slug, **values)
        db.add(program)
        db.commit()
        return program

    return make


@pytest.fixture
def submit(client: FlaskClient) -> Callable[..., Any]:
    """GET the form page (for fresh tokens), then POST the data as a browser would."""

    def do(data: dict[str, Any] | None = None, *, page: str = "/request-info", **kw: Any) -> Any:
        page_html = client.get(page).get_data(as_text=True)
        fields = hidden_fields(page_html)
        fields.pop("program", None)
        payload = {**fields, **(valid_form() if data is None else data)}
        return client.post(
            "/request-info", data=payload, headers={"Referer": f"http://localhost{page}"}, **kw
        )

    return do


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve the app on a free local port in a thread; yields its base URL."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def make_staff(db: Session) -> Callable[..., Any]:
    """Create a staff user: make_staff(role="counselor", email=..., password=...)."""
    counter = iter(range(1, 10_000))

    def make(role: str = "counselor", **values: Any) -> Any:
        n = next(counter)
        user = users.create_user(
            db,
            values.pop("email", f"{role}{n}@staff.example.com"),
            values.pop("name", f"{role.title()} {n}"),
            role,
            values.pop("password", "correct horse battery"),
            argon2_profile=settings().argon2_profile,
        )
        for key, value in values.items():
            setattr(user, key, value)
        db.commit()
        return user

    return make


@pytest.fixture
def login_as(client: FlaskClient, make_staff: Callable[..., Any]) -> Callable[..., Any]:
    """Sign the test client in as a new staff user of this role (or a given user)."""

    def do(
        role: str = "counselor", user: Any = None, password: str = "correct horse battery"
    ) -> Any:
        user = user or make_staff(role, password=password)
        response = client.post("/staff/login", data={"email": user.email, "password": password})
        assert response.status_code == 303, response.get_data(as_text=True)
        return user

    return do


@pytest.fixture
def make_lead(db: Session) -> Callable[..., Any]:
    """Store a lead through the submit use case: make_lead(email=..., program=slug, **fields)."""

    def make(*args: Any, **values: Any) -> Any:
        return create_lead(db, settings(), *args, **values)

    return make


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian Chromium per test module (Playwright); each test opens its own context.

    Skipped when /usr/bin/chromium is missing, unless LEADFORM_REQUIRE_BROWSER=1 (CI), which
    turns a missing browser into a failure instead of a silent skip.
    """
    if not os.path.exists(CHROMIUM):
        if os.environ.get("LEADFORM_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and LEADFORM_REQUIRE_BROWSER=1", pytrace=False)
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
