"""Staff accounts: create, find, deactivate (services: flush, never commit)."""

from __future__ import annotations

import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...models import StaffUser
from ...vocab import STAFF_ROLES
from .. import audit
from ..audit import Actor
from .passwords import hash_password

MIN_PASSWORD_LENGTH = 12


class UserError(ValueError):
    """The account cannot be created or changed as asked."""


def normalize_staff_email(email: str) -> str:
    """Staff emails are compared case-insensitively."""
    return email.strip().casefold()


def get_by_email(session: Session, email: str) -> StaffUser | None:
    """The staff user with this email, if any."""
    stmt = select(StaffUser).where(StaffUser.email == normalize_staff_email(email))
    return session.scalars(stmt).one_or_none()


def create_user(
    session: Session,
    email: str,
    name: str,
    role: str,
    password: str,
    *,
    argon2_profile: str,
) -> StaffUser:
    """Add a staff user with a hashed password."""
    try:
        email = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise UserError(f"invalid email: {exc}") from None
    email = normalize_staff_email(email)
    if role not in STAFF_ROLES:
        raise UserError(f"role must be one of: {', '.join(STAFF_ROLES)}")
    if not name.strip():
        raise UserError("a name is required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if get_by_email(session, email) is not None:
        raise UserError(f"a staff user with email {email} exists already")
    user = StaffUser(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=hash_password(argon2_profile, password),
    )
    session.add(user)
    session.flush()
    return user


def count_users(session: Session) -> int:
    """How many staff users exist."""
    return session.scalar(select(func.count()).select_from(StaffUser)) or 0


def generate_password() -> str:
    """A random password for a generated account."""
    return secrets.token_urlsafe(15)


def end_all_sessions(user: StaffUser) -> None:
    """Sign the user out everywhere: every session cookie carries the old version."""
    user.session_version += 1


def deactivate(user: StaffUser) -> None:
    """Disable the account and end its sessions."""
    user.active = False
    end_all_sessions(user)


def set_away(session: Session, user: StaffUser, away: bool, actor: Actor) -> bool:
    """Mark the user away (routing skips them) or back; False when nothing changed."""
    if user.away == away:
        return False
    user.away = away
    audit.record(
        session,
        "user.away" if away else "user.back",
        actor,
        target_type="staff_user",
        target_id=user.id,
    )
    session.flush()
    return True
