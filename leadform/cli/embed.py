"""`flask embed allow|list|revoke`: the sites allowed to embed the request-info form."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..context import get_session
from ..core import audit, embeds
from ..core.errors import ActionError, NotFound

#: Who acts in an operator's command: nobody signed in, recorded as coming from the CLI.
OPERATOR = audit.Actor(via="cli")

embed_cli = AppGroup("embed", help="Sites allowed to embed the request-info form.")


@embed_cli.command("allow")
@click.argument("origin")
def embed_allow(origin: str) -> None:
    """Allow ORIGIN (scheme://host[:port], no path) to embed the form."""
    session = get_session()
    try:
        row, created = embeds.allow_origin(session, origin, OPERATOR)
    except ActionError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"allowed {row.origin}" if created else f"{row.origin} was already allowed")


@embed_cli.command("list")
def embed_list() -> None:
    """The allowed origins, one per line."""
    rows = embeds.list_origins(get_session())
    if not rows:
        click.echo("no site may embed the form yet: flask embed allow ORIGIN", err=True)
    for row in rows:
        click.echo(row.origin)


@embed_cli.command("revoke")
@click.argument("origin")
def embed_revoke(origin: str) -> None:
    """Stop ORIGIN from embedding the form (every app process within CATALOG_CACHE_SECONDS)."""
    session = get_session()
    try:
        value = embeds.revoke_origin(session, origin, OPERATOR)
    except ActionError as exc:
        raise click.ClickException(str(exc)) from None
    except NotFound:
        raise click.ClickException(f"{origin} is not allowed: nothing to revoke") from None
    session.commit()
    click.echo(f"revoked {value}")
