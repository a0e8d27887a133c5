"""Flask commands for operators: catalog, users, outbox, API keys."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from . import catalog
from .db import get_session

programs_cli = AppGroup("programs", help="The program catalog.")


@programs_cli.command("load")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
def programs_load(file: str | None) -> None:
    """Load or update the program catalog from FILE (default: the bundled catalog)."""
    try:
        data = catalog.read_catalog(file)
    except catalog.CatalogError as exc:
        raise click.ClickException(str(exc)) from None
    session = get_session()
    result = catalog.load_catalog(session, data)
    session.commit()
    click.echo(
        f"programs: {result.created} created, {result.updated} updated, "
        f"{result.unchanged} unchanged"
    )
    if result.consent_version is not None:
        state = "new version" if result.consent_changed else "unchanged"
        click.echo(f"consent text: version {result.consent_version} ({state})")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(programs_cli)
