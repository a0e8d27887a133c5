"""Flask commands for operators: catalog, users, outbox, demo data.

An adapter like the web views: each command parses its arguments, calls the core and
commits once (the worker: once per claim and per message, see leadform.worker).
"""

from __future__ import annotations

import datetime as dt
import signal
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..context import (
    get_session,
    get_sessionmaker,
    rate_limit_prefix,
    rate_limit_storage,
    settings,
)
from ..core import apikeys, audit, routing
from ..core import programs as catalog
from ..core.accounts import throttle, users
from ..core.errors import ActionError
from ..db import utcnow
from ..models import OutboxMessage, Program, StaffUser
from ..vocab import STAFF_ROLES
from ..worker import deliver
from . import demo
from .embed import embed_cli

#: Who acts in an operator's command: nobody signed in, recorded as coming from the CLI.
OPERATOR = audit.Actor(via="cli")

programs_cli = AppGroup("programs", help="The program catalog.")
users_cli = AppGroup("users", help="Staff accounts.")
outbox_cli = AppGroup("outbox", help="Notification and webhook delivery.")
demo_cli = AppGroup("demo", help="Demo data for trying the staff workspace.")
apikeys_cli = AppGroup("apikeys", help="Keys for the JSON API (landing pages).")


@apikeys_cli.command("create")
@click.argument("name")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="A browser origin (https://landing.example.edu) whose pages may call the API with "
    "this key; repeat for several. None: server-to-server calls only.",
)
def apikeys_create(name: str, origins: tuple[str, ...]) -> None:
    """Create a key NAME and print it once (only its hash is stored)."""
    session = get_session()
    try:
        key, presented = apikeys.create_key(session, name, origins, OPERATOR)
    except apikeys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    origins_text = ", ".join(key.allowed_origins) or "none (server-to-server only)"
    click.echo(f"created API key {key.name!r}; allowed origins: {origins_text}")
    click.echo("The key (shown once, store it now; it cannot be shown again):")
    click.echo(presented)


@apikeys_cli.command("list")
def apikeys_list() -> None:
    """List the keys: name, prefix, state, allowed origins (never the key)."""
    keys = apikeys.list_keys(get_session())
    if not keys:
        click.echo("no API keys")
    for key in keys:
        state = "active" if key.active else "revoked"
        origins = ", ".join(key.allowed_origins) or "-"
        created = key.created_at.strftime("%Y-%m-%d")
        click.echo(f"{key.name}\t{key.prefix}...\t{state}\tcreated {created}\t{origins}")


@apikeys_cli.command("purge-idempotency")
@click.option(
    "--older-than-hours",
    type=click.FloatRange(min=1),
    default=24.0,
    show_default=True,
    help="Forget Idempotency-Key answers older than this.",
)
def apikeys_purge_idempotency(older_than_hours: float) -> None:
    """Forget old Idempotency-Key answers (run daily: the table grows with every keyed call)."""
    session = get_session()
    cutoff = utcnow() - dt.timedelta(hours=older_than_hours)
    removed = apikeys.purge_records(session, cutoff)
    session.commit()
    click.echo(f"forgot {removed} Idempotency-Key answers older than {older_than_hours:g} h")


@apikeys_cli.command("revoke")
@click.argument("name")
def apikeys_revoke(name: str) -> None:
    """Revoke the key NAME: it stops working at once."""
    session = get_session()
    try:
        apikeys.revoke_key(session, name, OPERATOR)
    except apikeys.ApiKeyError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(f"revoked API key {name!r}")


routing_cli = AppGroup("routing", help="Which counselors new leads go to, per program.")


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
        user = users.create_user(
            session, email, name, role, password, argon2_profile=settings().argon2_profile
        )
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(session, "user.created", OPERATOR, target_type="staff_user", target_id=user.id)
    session.commit()
    click.echo(f"created {user.role} {user.email}")


def _existing_user(email: str) -> StaffUser:
    user = users.get_by_email(get_session(), email)
    if user is None:
        raise click.ClickException(f"no staff user with email {email}")
    return user


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_set_password(email: str, password_stdin: bool) -> None:
    """Give a staff user a new password and end all their sessions; prompts with hidden input."""
    session = get_session()
    user = _existing_user(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        users.set_password(user, password, argon2_profile=settings().argon2_profile)
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from None
    audit.record(
        session, "user.password_set", OPERATOR, target_type="staff_user", target_id=user.id
    )
    session.commit()
    click.echo(f"new password set for {user.email}; their sessions have ended")
    if not user.active:
        click.echo("note: the account is deactivated, so it cannot sign in")


@users_cli.command("unlock")
@click.argument("email")
def users_unlock(email: str) -> None:
    """Clear the sign-in throttle of a staff account (its failed attempts from every address)."""
    session = get_session()
    user = _existing_user(email)
    storage = rate_limit_storage()
    if storage is None:
        session.rollback()
        click.echo("rate limiting is off (LEADFORM_RATELIMIT_ENABLED): nothing to clear")
        return
    # The throttle counts what was typed; an operator may type the address in any case.
    throttle.unlock(storage, settings(), user.email, prefix=rate_limit_prefix())
    audit.record(session, "user.unlocked", OPERATOR, target_type="staff_user", target_id=user.id)
    session.commit()
    click.echo(f"sign-in throttle cleared for {user.email}")
    if str(current_app.config["RATELIMIT_STORAGE_URI"]).startswith("memory://"):
        click.echo(
            "note: LEADFORM_RATELIMIT_STORAGE_URI is memory://, so each app server process "
            "counts in its own memory, which this command cannot reach: restart them instead"
        )


@users_cli.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """Disable a staff user and end all their sessions."""
    session = get_session()
    user = _existing_user(email)
    users.deactivate(user)
    audit.record(session, "user.deactivated", OPERATOR, target_type="staff_user", target_id=user.id)
    session.commit()
    click.echo(f"deactivated {user.email}")


@users_cli.command("away")
@click.argument("email")
@click.option("--on/--off", "away", required=True, help="Mark away (new leads skip them) or back.")
def users_away(email: str, away: bool) -> None:
    """Mark a staff member away (routing skips them) or back."""
    session = get_session()
    user = _existing_user(email)
    users.set_away(session, user, away, OPERATOR)
    session.commit()
    click.echo(f"{user.email} is {'away' if away else 'back'}")


@users_cli.command("ensure-admin")
@click.option("--email", default="admin@example.com", show_default=True)
def users_ensure_admin(email: str) -> None:
    """Create a demo admin with a generated password when no staff user exists yet."""
    session = get_session()
    if users.count_users(session) > 0:
        session.rollback()  # end the read transaction: on SQLite it holds the write lock
        return
    password = users.generate_password()
    user = users.create_user(
        session, email, "Demo Admin", "admin", password, argon2_profile=settings().argon2_profile
    )
    audit.record(session, "user.created", OPERATOR, target_type="staff_user", target_id=user.id)
    session.commit()
    click.echo(
        "\n  Demo admin created (shown once):\n"
        f"    email:    {user.email}\n    password: {password}\n"
        "  Sign in at /staff/login\n"
    )


@outbox_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--batch", default=20, show_default=True, help="Messages claimed per pass.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds to wait when idle.")
def outbox_work(once: bool, batch: int, poll: float) -> None:
    """Deliver pending notifications and webhooks (run one or more of these per deployment)."""
    stop = {"now": False}

    def _stop(signum: int, _frame: object) -> None:
        stop["now"] = True  # finish the message in hand, then exit

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    totals = deliver.work(
        get_sessionmaker(),
        settings(),
        once=once,
        poll_seconds=poll,
        should_stop=lambda: stop["now"],
        limit=batch,
    )
    click.echo(
        f"outbox: {totals.delivered} delivered, {totals.failed} to retry, {totals.dead} dead"
    )


@outbox_cli.command("status")
def outbox_status() -> None:
    """Count outbox messages by status."""
    rows = get_session().execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    for status, count in sorted(rows):
        click.echo(f"{status}: {count}")


@demo_cli.command("load")
@click.option(
    "--leads",
    default=300,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="How many people ask for information (some ask again or about a second program).",
)
@click.option("--seed", type=int, default=None, help="Random seed, to get the same data again.")
def demo_load(leads: int, seed: int | None) -> None:
    """Fill the database with realistic demo leads and a demo team (never in production)."""
    if settings().production:
        raise click.ClickException("demo data is not for production (LEADFORM_ENV=production)")
    session = get_session()
    try:
        result = demo.load_demo(session, settings(), leads=leads, seed=seed)
    except demo.DemoError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    click.echo(
        f"demo: {result.people} people, {result.leads_created} new leads, "
        f"{result.submissions} submissions ({result.resubmissions} asking again), "
        f"{result.held} held as suspected spam"
    )
    if result.staff_created:
        click.echo("\n  Demo staff created (shown once; the same password for each):")
        for user in result.staff_created:
            click.echo(f"    {user.role:<10} {user.email}")
        click.echo(f"    password:  {result.staff_password}\n  Sign in at /staff/login\n")


@routing_cli.command("set")
@click.argument("slug")
@click.argument("members", nargs=-1)
def routing_set(slug: str, members: tuple[str, ...]) -> None:
    """Set a program's routing team: EMAIL[:WEIGHT]... (none: every lead stays unassigned)."""
    session = get_session()
    program = session.scalars(select(Program).where(Program.slug == slug)).one_or_none()
    if program is None:
        raise click.ClickException(f"no program with slug {slug}")
    team: list[tuple[StaffUser, int]] = []
    try:
        for text in members:
            member = routing.parse_member(text)
            user = users.get_by_email(session, member.email)
            if user is None:
                raise click.ClickException(f"no staff user with email {member.email}")
            team.append((user, member.weight))
        routing.set_team(session, program, team, OPERATOR)
    except ActionError as exc:
        raise click.ClickException(str(exc)) from None
    session.commit()
    if not team:
        click.echo(f"{slug}: no routing team; new leads stay unassigned")
    for user, weight in team:
        click.echo(f"{slug}: {user.email} weight {weight}")


@routing_cli.command("show")
@click.argument("slug", required=False)
def routing_show(slug: str | None) -> None:
    """Show each program's routing team (or one program's)."""
    session = get_session()
    stmt = select(Program).order_by(Program.sort_order, Program.name)
    if slug:
        stmt = stmt.where(Program.slug == slug)
    programs = list(session.scalars(stmt))
    if slug and not programs:
        raise click.ClickException(f"no program with slug {slug}")
    for program in programs:
        members = routing.team(session, program.id)
        if not members:
            click.echo(f"{program.slug}: no team (new leads stay unassigned)")
            continue
        for member in members:
            user = member.staff_user
            state = (
                ""
                if user.active and not user.away
                else (" (away)" if user.active else " (inactive)")
            )
            click.echo(f"{program.slug}: {user.email} weight {member.weight}{state}")


def init_app(app: Flask) -> None:
    """Register the command groups."""
    app.cli.add_command(programs_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(apikeys_cli)
    app.cli.add_command(routing_cli)
    app.cli.add_command(embed_cli)
