"""Declarative base, column types and engines (no web framework: see leadform.context)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, Table, create_engine, event
from sqlalchemy.engine import Engine, ExceptionContext, make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware.

    SQLite keeps no time zone, so values are stored naive-UTC there and tagged on the
    way out; PostgreSQL stores timestamptz.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migration names are stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}
    # DeclarativeBase types this as any FromClause (a class may be mapped to a join); every
    # model here is mapped to a plain Table, which the Core INSERTs on the submit path use.
    __table__: ClassVar[Table]


def normalize_database_url(url: str) -> str:
    """Pick psycopg 3 for plain postgres:// and postgresql:// URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def build_engine(
    url: str, *, pool_size: int = 5, echo: bool = False, busy_ms: int = 15000
) -> Engine:
    """Create an engine with the settings each backend needs."""
    url = normalize_database_url(url)
    backend = make_url(url).get_backend_name()
    # A failed statement's error names its SQL, never the values bound to it: they are
    # people's names, emails and phone numbers (searches too), and errors end up in logs.
    if backend == "sqlite":
        engine = create_engine(
            url, echo=echo, hide_parameters=True, connect_args={"timeout": busy_ms / 1000}
        )
        _configure_sqlite(engine, busy_ms)
        return engine
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )
    event.listen(engine, "handle_error", _drop_row_details)
    return engine


def _drop_row_details(context: ExceptionContext) -> None:
    """Keep PostgreSQL's DETAIL line out of error messages (it stays on `exc.orig.diag`).

    The server quotes the row there: "Key (email)=(x@example.com) already exists", or a
    whole row ("Failing row contains (...)") for a check constraint. The message of the
    driver's error and of SQLAlchemy's wrapper becomes the primary message alone.
    """
    orig = context.original_exception
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary or not getattr(diag, "message_detail", None):
        return
    orig.args = (primary,)
    wrapped = context.sqlalchemy_exception
    if wrapped is not None and wrapped.args:
        kind = f"{type(orig).__module__}.{type(orig).__name__}"
        wrapped.args = (f"({kind}) {primary}", *wrapped.args[1:])


def _configure_sqlite(engine: Engine, busy_ms: int) -> None:
    """WAL, busy timeout, foreign keys, and transactions that take the write lock at BEGIN.

    A deferred transaction that reads and then writes can fail with "database is locked"
    when another writer got there first; BEGIN IMMEDIATE makes it wait its turn instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: in WAL mode NORMAL may lose the last commits on power loss; a lead is never lost.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
