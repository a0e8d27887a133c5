"""Flask commands for operators: catalog, users, outbox, API keys."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from . import audit, catalog
from .db import get_session
from .models import STAFF_ROLES
from .staff import users

programs_cli = AppGroup("programs", help="The program catalog.")
users_cli = AppGroup("users", help="Staff accounts.")


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


@users_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="The person's name as shown to colleagues.")
@click.option(
    "--role", required=True, type=click.Choice(STAFF_ROLES), help="counselor, manager or admin."
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_create(email: str, name: str, role: str, password_stdin: bool) -> None:
    """Add a staff user; prompts for the password with hidden input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    session = get_session()
    try:
        user = users.create_user(session, email, name, role, password)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(session, "user.created", target_type="staff_user", target_id=user.id, via="cli")
    session.commit()
    click.echo(f"created {user.role} {user.email}")


@users_cli.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Disable a staff user and end all their sessions."""
    session = get_session()
    user = users.get_by_email(session, email)
    if user is None:
        raise click.ClickException(f"no staff user with email {email}")
    users.deactivate(user)
    audit.record(
        session, "user.deactivated", target_type="staff_user", target_id=user.id, via="cli"
    )
    session.commit()
    click.echo(f"deactivated {user.email}")


@users_cli.command("ensure-admin")
@click.option("--email", default="admin@example.com", show_default=True)
def users_ensure_admin(email: str) -> None:
    """Create a demo admin with a generated password when no staff user exists yet."""
    session = get_session()
    if users.count_users(session) > 0:
        session.rollback()  # end the read transaction: on SQLite it holds the write lock
        return
    password = users.generate_password()
    user = users.create_user(session, email, "Demo Admin", "admin", password)
    audit.record(session, "user.created", target_type="staff_user", target_id=user.id, via="cli")
    session.commit()
    click.echo(
        "\n  Demo admin created (shown once):\n"
        f"    email:    {user.email}\n    password: {password}\n"
        "  Sign in at /staff/login\n"
    )


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(programs_cli)
    app.cli.add_command(users_cli)
