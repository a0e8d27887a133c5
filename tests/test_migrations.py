"""The Alembic migrations build exactly the schema the models describe, up and down."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from factories import PG_URL
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from leadform import create_app
from leadform.cli.migrate import alembic_config
from leadform.db import Base, build_engine

# SQLite cannot reflect expression indexes (lower(name) for search), so Alembic's compare
# skips them there with a warning; the PostgreSQL run of this test checks them.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index"),
    pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based"),
]


@pytest.fixture
def migration_url(tmp_path) -> Iterator[str]:
    """An empty database of its own: a temp SQLite file, or a throwaway PostgreSQL database.

    Never the test suite's own database, whose schema the other tests are using.
    """
    if not PG_URL:
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    url = make_url(PG_URL)
    name = f"{url.database}_mig"
    assert re.fullmatch(r"[A-Za-z0-9_]+", name), name
    server = build_engine(url.set(database="postgres").render_as_string(hide_password=False))
    server = server.execution_options(isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.engine.dispose()


@pytest.fixture
def alembic_cfg(migration_url):
    """An Alembic config for the throwaway database, built inside an app context."""
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "migrations-" * 4, "DATABASE_URL": migration_url}
    )
    with app.app_context():
        yield alembic_config(migration_url)
    app.extensions["leadform.engine"].dispose()


def schema_diff(url: str) -> list:
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = build_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migration_head_matches_the_models(alembic_cfg, migration_url):
    command.upgrade(alembic_cfg, "head")
    assert schema_diff(migration_url) == []
    assert tables(migration_url) == set(Base.metadata.tables)


def test_every_revision_upgrades_and_downgrades(alembic_cfg, migration_url):
    script = ScriptDirectory.from_config(alembic_cfg)
    revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
    assert revisions, "no migrations"
    assert len(script.get_heads()) == 1, "more than one head"

    for revision in revisions:  # base -> head, one step at a time
        command.upgrade(alembic_cfg, revision)
    assert tables(migration_url) == set(Base.metadata.tables)
    for _ in revisions:  # head -> base, one step at a time
        command.downgrade(alembic_cfg, "-1")
    assert tables(migration_url) == set()
    command.upgrade(alembic_cfg, "head")  # and up again: the downgrades left nothing behind
    assert schema_diff(migration_url) == []


def test_submissions_stored_before_the_text_opt_in_wording_was_kept_stay_valid(
    alembic_cfg, migration_url
):
    # The revision before the opt-in wording columns, with a submission that opted in.
    wording = ScriptDirectory.from_config(alembic_cfg).get_revision("119b88fb0b4c")
    command.upgrade(alembic_cfg, wording.down_revision)
    engine = build_engine(migration_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO submissions (idempotency_key, program_slug, first_name, "
                    "last_name, email, phone, postal_code, country, start_term, education_level, "
                    "military, comments, sms_opt_in, consent, channel, received_at, ip, "
                    "user_agent, page_url, referrer, utm_source, utm_medium, utm_campaign, "
                    "utm_term, utm_content, spam_verdict, spam_reasons) VALUES ('old:1', 'x', "
                    "'Maria', 'Lopez', 'maria@example.com', '3175550123', '', '', '', '', '', '', "
                    ":yes, :yes, 'form', :at, '', '', '', '', '', '', '', '', '', 'ok', '')"
                ),
                {"yes": True, "at": "2026-11-30 12:00:00"},
            )
        command.upgrade(alembic_cfg, "head")
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT sms_opt_in, sms_opt_in_text, sms_opt_in_sha256 FROM submissions")
            ).one()
        assert tuple(row) == (True, None, None)  # kept as it was; its wording was never stored
    finally:
        engine.dispose()


def test_people_stored_before_search_names_are_found_by_them(alembic_cfg, migration_url):
    # The revision before the folded search names, with two people already stored.
    folded = ScriptDirectory.from_config(alembic_cfg).get_revision("a4c8e2f1b7d3")
    command.upgrade(alembic_cfg, folded.down_revision)
    engine = build_engine(migration_url)
    try:
        with engine.begin() as conn:
            for n, (first, last) in enumerate([("José", "Gómez"), ("Aoife", "O'Connor")]):
                conn.execute(
                    text(
                        "INSERT INTO prospects (email_normalized, email, first_name, last_name, "
                        "consent, sms_opt_in, created_at, updated_at) "
                        "VALUES (:email, :email, :first, :last, :no, :no, :at, :at)"
                    ),
                    {
                        "email": f"p{n}@example.com",
                        "first": first,
                        "last": last,
                        "no": False,
                        "at": "2026-11-30 12:00:00",
                    },
                )
        command.upgrade(alembic_cfg, "head")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT search_name FROM prospects ORDER BY id")).scalars()
            assert list(rows) == [" jose gomez", " aoife o connor oconnor"]
    finally:
        engine.dispose()
