"""`flask db ...`: plain Alembic, pointed at this app's database."""

from __future__ import annotations

import click
from alembic import command
from alembic.config import Config
from flask import Flask, current_app
from flask.cli import AppGroup

from ..resources import resource_folder

MIGRATIONS = resource_folder("migrations")

db_cli = AppGroup("db", help="Database migrations (Alembic).")


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config for the migrations folder and the given (or current app's) database."""
    cfg = Config(str(MIGRATIONS / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # leadform is importable here; the ini's `%(here)s/..` serves plain `alembic` in a checkout
    # and, installed, would put the package folder itself at the front of sys.path.
    cfg.remove_main_option("prepend_sys_path")
    cfg.attributes["database_url"] = database_url or current_app.config["DATABASE_URL"]
    return cfg


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: head)."""
    command.upgrade(alembic_config(), revision)


@db_cli.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (for example -1 or base)."""
    command.downgrade(alembic_config(), revision)


@db_cli.command("current")
def current() -> None:
    """Show the revision the database is at."""
    command.current(alembic_config(), verbose=True)


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate/--empty", default=True)
def revision(message: str, autogenerate: bool) -> None:
    """Create a migration from the difference between the models and the database."""
    command.revision(alembic_config(), message=message, autogenerate=autogenerate)


def init_app(app: Flask) -> None:
    """Register `flask db`."""
    app.cli.add_command(db_cli)
