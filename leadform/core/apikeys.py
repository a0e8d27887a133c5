"""JSON API keys and Idempotency-Key records: the API's rules, without the web.

A key is shown once, when it is created; only its SHA-256 is stored. (A key is 32 random
bytes, so a fast hash is enough: there is nothing to guess a dictionary from, and a lookup
by hash costs one index probe per request.) Each key names the browser origins that may
call the API with it (CORS).

Idempotency (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): the first request
with a key claims it in a transaction of its own (`claim`, committed by the adapter before
the work), the answer is stored with the work (`finish`), and a later request with the same
key gets that answer back, or 409 while the first is still running, or 422 when its body
differs. A claim whose request died (`abandon`, or older than the timeout) can be taken over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, Update, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from ..models import ApiIdempotencyRecord, ApiKey
from . import audit
from .errors import ValidationFailed

#: Keys start with this, so a leaked one is recognisable (secret scanners, logs).
KEY_PREFIX = "lf_"
#: The longest Idempotency-Key value accepted.
IDEMPOTENCY_KEY_MAX = 255


class ApiKeyError(Exception):
    """A key cannot be created or changed as asked (the message says why)."""


@dataclass(frozen=True)
class KeyInfo:
    """A verified, active API key as the adapter uses it (no ORM instance)."""

    id: int
    name: str
    allowed_origins: tuple[str, ...]


def hash_key(presented: str) -> str:
    """The stored form of a key: hex SHA-256 of its text."""
    return hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()


def normalize_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], lower case; raise ApiKeyError."""
    text = origin.strip()
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
    ):
        raise ApiKeyError(f"not an origin (scheme://host[:port]): {origin!r}")
    try:
        port = parts.port
    except ValueError:
        raise ApiKeyError(f"not an origin (bad port): {origin!r}") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def create_key(
    session: Session, name: str, origins: Iterable[str], actor: audit.Actor
) -> tuple[ApiKey, str]:
    """A new active key; returns the row and the key itself (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("A key needs a name of 1 to 100 characters.")
    if session.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
        raise ApiKeyError(f"A key named {name!r} exists already (names are never reused).")
    allowed = sorted({normalize_origin(origin) for origin in origins})
    presented = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        name=name,
        key_hash=hash_key(presented),
        prefix=presented[:12],
        allowed_origins=allowed,
        active=True,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        "api_key.created",
        actor,
        target_type="api_key",
        target_id=key.id,
        name=name,
        prefix=key.prefix,
        allowed_origins=allowed,
    )
    return key, presented


def revoke_key(session: Session, name: str, actor: audit.Actor) -> ApiKey:
    """Deactivate the key with this name: it stops working at once."""
    key = session.scalars(select(ApiKey).where(ApiKey.name == name).with_for_update()).first()
    if key is None:
        raise ApiKeyError(f"No key named {name!r}.")
    if not key.active:
        raise ApiKeyError(f"The key {name!r} is revoked already.")
    key.active = False
    audit.record(
        session, "api_key.revoked", actor, target_type="api_key", target_id=key.id, name=name
    )
    session.flush()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first (revoked ones too)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


@cache
def _verify_statement() -> Select[int, str, list[str]]:
    """SELECT the active key by hash: built once (this runs on every API request)."""
    return select(ApiKey.id, ApiKey.name, ApiKey.allowed_origins).where(
        ApiKey.key_hash == bindparam("key_hash"), ApiKey.active.is_(True)
    )


def verify_key(session: Session, presented: str | None) -> KeyInfo | None:
    """The active key this text is, or None (missing, unknown or revoked)."""
    if not presented or len(presented) > 200:
        return None
    row = session.execute(_verify_statement(), {"key_hash": hash_key(presented)}).first()
    if row is None:
        return None
    return KeyInfo(id=row.id, name=row.name, allowed_origins=tuple(row.allowed_origins or ()))


def origin_allowed_by_any(session: Session, origin: str) -> bool:
    """Whether some active key allows this browser origin (for a preflight, which has no key)."""
    rows = session.scalars(select(ApiKey.allowed_origins).where(ApiKey.active.is_(True)))
    return any(origin in (origins or ()) for origins in rows)


# --------------------------------------------------------------------------- idempotency


def fingerprint(body: Any) -> str:
    """SHA-256 of the body as canonical JSON (sorted keys, no spaces, UTF-8)."""
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def check_idempotency_key(value: str) -> str:
    """The header's value, or ValidationFailed (empty, too long, or not printable ASCII)."""
    if not value or len(value) > IDEMPOTENCY_KEY_MAX or not value.isprintable():
        raise ValidationFailed(
            {"Idempotency-Key": [f"Use 1 to {IDEMPOTENCY_KEY_MAX} printable characters."]}
        )
    if not value.isascii():
        raise ValidationFailed({"Idempotency-Key": ["Use ASCII characters only."]})
    return value


@dataclass(frozen=True)
class Claim:
    """What a request with an Idempotency-Key may do.

    state: "new" (this request does the work, under record_id), "replay" (answer with
    status and body), "in_flight" (another request with the key is running: 409) or
    "mismatch" (the key was used with another body: 422).
    """

    state: str
    record_id: int | None = None
    status: int | None = None
    body: Mapping[str, Any] | None = None


def submission_key(record_id: int) -> str:
    """The submission's own idempotency key for an API request that sent one.

    Derived from the claim's record, so the submissions table's unique key stops a second
    copy even if two requests ever got past the claim (a takeover of a claim whose request
    was only slow). A key used again after its record was purged gets a new record, and so
    a new submission key.
    """
    return f"api:idem:{record_id}"


_RECORD_COLUMNS = (
    "api_key_id",
    "idempotency_key",
    "fingerprint",
    "state",
    "created_at",
    "updated_at",
)


@cache
def _claim_statement(dialect: str) -> ReturningInsert[Any]:
    """INSERT ... ON CONFLICT (key, Idempotency-Key) DO NOTHING RETURNING id, built once."""
    table = ApiIdempotencyRecord.__table__
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = table.c
    return (
        insert(table)
        .values({name: bindparam(name, type_=columns[name].type) for name in _RECORD_COLUMNS})
        .on_conflict_do_nothing(index_elements=[columns.api_key_id, columns.idempotency_key])
        .returning(columns.id)
    )


@cache
def _finish_statement() -> Update:
    """UPDATE the record with the answer, built once."""
    columns = ApiIdempotencyRecord.__table__.c
    return (
        update(ApiIdempotencyRecord.__table__)
        .where(columns.id == bindparam("record_id"))
        .values(
            state="done",
            response_status=bindparam("status", type_=columns.response_status.type),
            response_body=bindparam("body", type_=columns.response_body.type),
            updated_at=bindparam("now", type_=columns.updated_at.type),
        )
    )


def claim(
    session: Session,
    api_key_id: int,
    idempotency_key: str,
    body_fingerprint: str,
    *,
    now: dt.datetime,
    timeout_seconds: float,
) -> Claim:
    """Claim the key for this request, or say what was stored under it.

    Runs in its own transaction: the adapter commits a "new" claim before doing the work,
    so a concurrent request with the key sees it (on PostgreSQL it waits for the claim's
    INSERT to commit, then reads it; on SQLite the write lock orders them).
    """
    values = {
        "api_key_id": api_key_id,
        "idempotency_key": idempotency_key,
        "fingerprint": body_fingerprint,
        "state": "processing",
        "created_at": now,
        "updated_at": now,
    }
    stmt = _claim_statement(session.get_bind().dialect.name)
    record_id: int | None = session.execute(stmt, values).scalar_one_or_none()
    if record_id is not None:
        return Claim("new", record_id=record_id)

    stored = session.scalars(
        select(ApiIdempotencyRecord)
        .where(
            ApiIdempotencyRecord.api_key_id == api_key_id,
            ApiIdempotencyRecord.idempotency_key == idempotency_key,
        )
        .execution_options(populate_existing=True)
    ).one()
    if stored.fingerprint != body_fingerprint:
        return Claim("mismatch", record_id=stored.id)
    if stored.state == "done":
        return Claim(
            "replay", record_id=stored.id, status=stored.response_status, body=stored.response_body
        )
    cutoff = now - dt.timedelta(seconds=timeout_seconds)
    taken = session.execute(
        update(ApiIdempotencyRecord)
        .where(
            ApiIdempotencyRecord.id == stored.id,
            ApiIdempotencyRecord.state == "processing",
            ApiIdempotencyRecord.updated_at < cutoff,
        )
        .values(updated_at=now)
    )
    if getattr(taken, "rowcount", 0) == 1:
        return Claim("new", record_id=stored.id)
    return Claim("in_flight", record_id=stored.id)


def finish(
    session: Session, record_id: int, status: int, body: Mapping[str, Any], now: dt.datetime
) -> None:
    """Store the answer with the work: a replay of the key gets it back."""
    session.execute(
        _finish_statement(),
        {"record_id": record_id, "status": status, "body": dict(body), "now": now},
    )


def abandon(session: Session, record_id: int) -> None:
    """Drop a claim whose request failed, so a retry with the key does the work."""
    session.execute(
        delete(ApiIdempotencyRecord).where(
            ApiIdempotencyRecord.id == record_id, ApiIdempotencyRecord.state == "processing"
        )
    )


def purge_records(session: Session, older_than: dt.datetime) -> int:
    """Forget the answers to Idempotency-Keys first used before this time; how many.

    A retry after that is a new request (stored again, or merged into the person's lead).
    Claims still in flight are kept.
    """
    result = session.execute(
        delete(ApiIdempotencyRecord).where(
            ApiIdempotencyRecord.created_at < older_than, ApiIdempotencyRecord.state == "done"
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
