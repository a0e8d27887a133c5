"""The PostgreSQL database the suite runs on (LEADFORM_TEST_DATABASE_URL), made when missing.

conftest.py calls ensure_database before the first test, so `make test` (or pytest) with a
URL naming a database that does not exist yet creates it on that server. The suite then
empties it as it goes: name a database of its own, never one with data to keep.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from leadform.db import normalize_database_url

#: Seconds to wait for the server before saying it cannot be reached.
CONNECT_TIMEOUT = 5


class DatabaseSetupError(Exception):
    """The test database could not be reached or created: what happened and what to do."""


def ensure_database(url: str | None) -> bool:
    """Create the PostgreSQL database `url` names when it does not exist; True if created.

    Nothing to do with no URL or a SQLite one. Creating connects to the server's `postgres`
    database, as `createdb` does.
    """
    if not url:
        return False
    parsed = make_url(normalize_database_url(url))
    if parsed.get_backend_name() != "postgresql":
        return False
    name = parsed.database
    if not name:
        raise DatabaseSetupError(f"LEADFORM_TEST_DATABASE_URL names no database: {url}")
    target = parsed.set(drivername="postgresql")
    try:
        with _connect(target.render_as_string(hide_password=False)):
            return False  # it exists (and we may use it, even without access to `postgres`)
    except psycopg.OperationalError:
        pass  # missing, or the server is down: the server's own database tells which
    server = target.set(database="postgres")
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    try:
        conn = _connect(server.render_as_string(hide_password=False))
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        raise DatabaseSetupError(
            f"LEADFORM_TEST_DATABASE_URL: cannot connect to the PostgreSQL server at {where} to "
            f"create the test database {name!r} ({reason}). Start PostgreSQL, or unset "
            "LEADFORM_TEST_DATABASE_URL to run the tests on SQLite."
        ) from None
    with conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            return False  # another run created it a moment ago
        except psycopg.Error as exc:
            raise DatabaseSetupError(
                f"LEADFORM_TEST_DATABASE_URL: could not create the test database {name!r} "
                f"on {where}: {' '.join(str(exc).split())}"
            ) from None
    return True


def _connect(conninfo: str) -> psycopg.Connection:
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
