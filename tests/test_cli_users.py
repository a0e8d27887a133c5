"""`flask users ...`: creating, deactivating, resetting and bootstrapping staff accounts."""

from __future__ import annotations

import re

from sqlalchemy import select

from leadform.context import get_engine
from leadform.models import AuditEvent, StaffUser

PASSWORD = "a long enough password"


def _users(app):
    """(email, name, role, active) of every staff user, read on a connection of its own."""
    with app.app_context(), get_engine().connect() as conn:
        stmt = select(StaffUser.email, StaffUser.name, StaffUser.role, StaffUser.active)
        return [tuple(row) for row in conn.execute(stmt.order_by(StaffUser.id))]


def _audit(app):
    with app.app_context(), get_engine().connect() as conn:
        return list(conn.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _cli(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["users", *args], input=input)


def _signs_in(app, email, password):
    response = app.test_client().post("/staff/login", data={"email": email, "password": password})
    return response.status_code == 303


def test_create_with_password_from_stdin(app):
    result = _cli(
        app,
        "create",
        "Dana.Lee@Example.COM",
        "--name",
        "Dana Lee",
        "--role",
        "counselor",
        "--password-stdin",
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created counselor dana.lee@example.com" in result.output
    assert _users(app) == [("dana.lee@example.com", "Dana Lee", "counselor", True)]
    assert _audit(app) == ["user.created"]
    assert _signs_in(app, "DANA.LEE@example.com", PASSWORD)


def test_create_prompts_for_the_password_without_echoing_it(app):
    result = _cli(
        app, "create", "sam@example.com", "--name", "Sam Ortiz", "--role", "manager",
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "Repeat for confirmation" in result.output
    assert PASSWORD not in result.output
    assert _signs_in(app, "sam@example.com", PASSWORD)


def test_create_refuses_when_the_typed_passwords_differ(app):
    result = _cli(
        app, "create", "sam@example.com", "--name", "Sam", "--role", "manager",
        input=f"{PASSWORD}\n{PASSWORD}x\n",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert _users(app) == []


def test_duplicate_email_is_refused_whatever_its_case(app):
    args = ["create", "pat@example.com", "--name", "Pat", "--role", "counselor", "--password-stdin"]
    assert _cli(app, *args, input=PASSWORD).exit_code == 0
    args[1] = "PAT@Example.com"
    again = _cli(app, *args, input="another long password")
    assert again.exit_code == 1
    assert "a staff user with email pat@example.com exists already" in again.output
    assert len(_users(app)) == 1
    assert not _signs_in(app, "pat@example.com", "another long password")


def test_unknown_role_is_refused(app):
    result = _cli(
        app, "create", "x@example.com", "--name", "X", "--role", "superuser", "--password-stdin",
        input=PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "'superuser' is not one of 'counselor', 'manager', 'admin'" in result.output
    assert _users(app) == []


def test_short_password_is_refused(app):
    result = _cli(
        app, "create", "x@example.com", "--name", "X", "--role", "admin", "--password-stdin",
        input="short-pass\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert _users(app) == []


def test_invalid_email_is_refused(app):
    result = _cli(
        app, "create", "not-an-email", "--name", "X", "--role", "admin", "--password-stdin",
        input=PASSWORD,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "invalid email" in result.output
    assert _users(app) == []


def test_deactivate(app, make_staff):
    user = make_staff("counselor", password=PASSWORD)
    result = _cli(app, "deactivate", user.email.upper())
    assert result.exit_code == 0, result.output
    assert f"deactivated {user.email}" in result.output
    assert _users(app)[0][3] is False
    assert "user.deactivated" in _audit(app)
    assert not _signs_in(app, user.email, PASSWORD)


def test_deactivate_unknown_email(app):
    result = _cli(app, "deactivate", "nobody@example.com")
    assert result.exit_code == 1
    assert "no staff user with email nobody@example.com" in result.output


def test_ensure_admin_creates_one_admin_and_prints_its_password_once(app):
    first = _cli(app, "ensure-admin")
    assert first.exit_code == 0, first.output
    password = re.search(r"password: (\S+)", first.output).group(1)
    assert "admin@example.com" in first.output
    assert _users(app) == [("admin@example.com", "Demo Admin", "admin", True)]
    assert _signs_in(app, "admin@example.com", password)

    second = _cli(app, "ensure-admin")
    assert second.exit_code == 0
    assert second.output == ""
    assert len(_users(app)) == 1


def test_ensure_admin_does_nothing_when_any_staff_user_exists(app, make_staff):
    make_staff("counselor")
    result = _cli(app, "ensure-admin")
    assert result.exit_code == 0
    assert result.output == ""
    assert [role for _, _, role, _ in _users(app)] == ["counselor"]


# --- a lost password ------------------------------------------------------------------------

NEW_PASSWORD = "a brand new passphrase"


def test_set_password_from_stdin_replaces_it_and_ends_every_session(app, make_staff):
    user = make_staff("counselor", email="dana@example.com", password=PASSWORD)
    laptop = app.test_client()
    assert (
        laptop.post("/staff/login", data={"email": user.email, "password": PASSWORD}).status_code
        == 303
    )
    assert laptop.get("/staff/").status_code == 200

    result = _cli(app, "set-password", "DANA@example.com", "--password-stdin", input=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert "new password set for dana@example.com; their sessions have ended" in result.output
    assert NEW_PASSWORD not in result.output

    assert laptop.get("/staff/").status_code == 302  # signed out by the change
    assert not _signs_in(app, user.email, PASSWORD)
    assert _signs_in(app, user.email, NEW_PASSWORD)
    assert "user.password_set" in _audit(app)


def test_set_password_prompts_twice_without_echoing(app, make_staff):
    user = make_staff("manager", password=PASSWORD)
    result = _cli(app, "set-password", user.email, input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "New password" in result.output
    assert "Repeat for confirmation" in result.output
    assert NEW_PASSWORD not in result.output
    assert _signs_in(app, user.email, NEW_PASSWORD)


def test_set_password_refuses_a_short_one_and_changes_nothing(app, make_staff):
    user = make_staff("manager", password=PASSWORD)
    result = _cli(app, "set-password", user.email, "--password-stdin", input="short-pass\n")
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    assert _signs_in(app, user.email, PASSWORD)
    assert "user.password_set" not in _audit(app)


def test_set_password_for_an_unknown_email_is_refused(app):
    result = _cli(app, "set-password", "nobody@example.com", "--password-stdin", input=PASSWORD)
    assert result.exit_code == 1
    assert "no staff user with email nobody@example.com" in result.output


def test_set_password_keeps_a_deactivated_account_deactivated(app, make_staff):
    user = make_staff("counselor", password=PASSWORD, active=False)
    result = _cli(app, "set-password", user.email, "--password-stdin", input=NEW_PASSWORD)
    assert result.exit_code == 0, result.output
    assert "the account is deactivated" in result.output
    assert not _signs_in(app, user.email, NEW_PASSWORD)
