"""Alembic environment: LeadForm's models and database, SQLite-friendly batch mode."""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context

from leadform.db import Base, build_engine
from leadform.models import Program  # noqa: F401 - registers every model on Base.metadata

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    # Only when run as plain `alembic`: under Flask the app has configured logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """The URL passed by `flask db`, else LEADFORM_DATABASE_URL, else the app's default."""
    url = config.attributes.get("database_url") or os.environ.get("LEADFORM_DATABASE_URL")
    if not url:
        from leadform import create_app

        url = create_app().config["DATABASE_URL"]
    return url


def run_migrations() -> None:
    """Run migrations online, on a connection passed in or one opened here."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = build_engine(database_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


run_migrations()
