"""The front door for a new user: what `make run` says, and the database `make test` needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from factories import PG_URL
from sqlalchemy import text
from sqlalchemy.engine import make_url
from testdb import DatabaseSetupError, ensure_database

from leadform.db import build_engine

ROOT = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")


@pytest.mark.skipif(MAKE is None, reason="make is not installed")
@pytest.mark.parametrize("port", [None, "8001"])
def test_make_run_prints_the_full_sign_in_address(port):
    # FLASK=true stands in for every flask command (nothing is migrated or served) and
    # `-o install` skips the virtualenv step: what is left is what `make run` prints itself.
    args = [MAKE, "-s", "--no-print-directory", "-o", "install", "run", "FLASK=true"]
    if port:
        args.append(f"PORT={port}")
    env = {k: v for k, v in os.environ.items() if k not in {"PORT", "MAKEFLAGS", "MFLAGS"}}
    done = subprocess.run(  # noqa: S603 - make with our own arguments
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    expected = f"Staff sign-in: http://127.0.0.1:{port or 5000}/staff/login"
    assert expected in done.stdout.splitlines(), done.stdout


@pytest.mark.parametrize("url", [None, "", "sqlite:///instance/test.db", "sqlite://"])
def test_no_database_to_make_without_a_postgresql_url(url):
    assert ensure_database(url) is False


def test_an_unreachable_postgresql_server_is_a_clear_error():
    # Port 9 (discard): nothing listens there, so the connection is refused at once.
    with pytest.raises(DatabaseSetupError) as caught:
        ensure_database("postgresql://postgres@127.0.0.1:9/leadform_nowhere")
    message = str(caught.value)
    assert "LEADFORM_TEST_DATABASE_URL" in message
    assert "127.0.0.1:9" in message
    assert "'leadform_nowhere'" in message
    assert "unset LEADFORM_TEST_DATABASE_URL to run the tests on SQLite" in message


def _drop(server_url: str, name: str) -> None:
    server = build_engine(server_url).execution_options(isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.engine.dispose()


@pytest.mark.skipif(not PG_URL, reason="needs a PostgreSQL server (LEADFORM_TEST_DATABASE_URL)")
def test_a_missing_postgresql_test_database_is_created():
    url = make_url(PG_URL)
    name = f"{url.database}_new_{uuid.uuid4().hex[:8]}"
    server_url = url.set(database="postgres").render_as_string(hide_password=False)
    missing = url.set(database=name).render_as_string(hide_password=False)
    try:
        assert ensure_database(missing) is True
        engine = build_engine(missing)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == name
        engine.dispose()
        assert ensure_database(missing) is False  # there now: left as it is
    finally:
        _drop(server_url, name)
