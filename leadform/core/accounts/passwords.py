"""Password hashing with argon2id (argon2-cffi)."""

from __future__ import annotations

import contextlib

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# A hash to verify against when the account does not exist, so a wrong email costs the
# same time as a wrong password and timing does not reveal which accounts exist.
_DUMMY_PASSWORD = "not-a-real-password"  # noqa: S105
_dummy_hashes: dict[tuple[object, ...], str] = {}


def hasher(profile: str) -> PasswordHasher:
    """The argon2id hasher for an argon2-cffi profile name (settings.argon2_profile)."""
    return PasswordHasher.from_parameters(getattr(profiles, profile))


def hash_password(profile: str, password: str) -> str:
    """Hash a password for storage."""
    return hasher(profile).hash(password)


def _dummy_hash(ph: PasswordHasher) -> str:
    """A hash made with the current parameters, computed once per parameter set."""
    key = (ph.time_cost, ph.memory_cost, ph.parallelism, ph.hash_len, ph.salt_len, ph.type)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = ph.hash(_DUMMY_PASSWORD)
    return _dummy_hashes[key]


def verify_password(profile: str, password_hash: str | None, password: str) -> bool:
    """True when the password matches; always does the work of exactly one verification."""
    ph = hasher(profile)
    if password_hash is None:
        # Verify (not hash-then-verify), so an unknown email costs what a known one does.
        with contextlib.suppress(VerificationError):
            ph.verify(_dummy_hash(ph), password)
        return False
    try:
        return ph.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(profile: str, password_hash: str) -> bool:
    """True when the stored hash uses weaker parameters than the current ones."""
    return hasher(profile).check_needs_rehash(password_hash)
