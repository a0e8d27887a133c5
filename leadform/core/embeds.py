"""The embeddable form's allowlist: which sites may frame it and post it.

Operators manage it from the CLI (`flask embed allow|list|revoke`). The web reads it on
every embed request through a per-process `AllowlistCache` that rereads it after
CATALOG_CACHE_SECONDS (like the catalog), so a revoke takes effect in every process within
that time. An origin is `scheme://host[:port]`: http or https, lower case, no default port,
no path, query, fragment or user info, which is exactly how a browser spells the `Origin`
header and `location.origin`, so checks are plain string comparisons.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import EmbedOrigin
from . import audit
from .errors import ActionError, NotFound

_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """`value` as an origin (scheme://host[:port]); ActionError when it is not one."""
    text = value.strip()
    origin = origin_of(text)
    if origin is None:
        raise ActionError(
            f"{value!r} is not an origin: give scheme://host[:port], e.g. https://www.example.edu",
            field="origin",
        )
    parts = urlsplit(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ActionError(
            f"{value!r} has a path: an origin is only scheme://host[:port]", field="origin"
        )
    return origin


def origin_of(url: str | None) -> str | None:
    """The origin of an http(s) URL (normalized), or None for anything else."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if any(c.isspace() or c in "*\\\"'<>;," for c in host):
        return None
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def list_origins(session: Session) -> list[EmbedOrigin]:
    """The allowed origins, alphabetically."""
    return list(session.scalars(select(EmbedOrigin).order_by(EmbedOrigin.origin)))


def read_allowlist(session: Session) -> frozenset[str]:
    """The allowed origins as a set of strings."""
    return frozenset(session.scalars(select(EmbedOrigin.origin)))


def allow_origin(session: Session, origin: str, actor: audit.Actor) -> tuple[EmbedOrigin, bool]:
    """Allow `origin` to frame and post the form; (row, False) if it already was. Audited."""
    value = normalize_origin(origin)
    row = session.scalars(select(EmbedOrigin).where(EmbedOrigin.origin == value)).first()
    if row is not None:
        return row, False
    row = EmbedOrigin(origin=value)
    session.add(row)
    session.flush()
    audit.record(
        session,
        "embed_origin.allowed",
        actor,
        target_type="embed_origin",
        target_id=row.id,
        origin=value,
    )
    return row, True


def revoke_origin(session: Session, origin: str, actor: audit.Actor) -> str:
    """Take `origin` off the list (NotFound if it is not on it). Audited."""
    value = normalize_origin(origin)
    row = session.scalars(select(EmbedOrigin).where(EmbedOrigin.origin == value)).first()
    if row is None:
        raise NotFound(value)
    audit.record(
        session,
        "embed_origin.revoked",
        actor,
        target_type="embed_origin",
        target_id=row.id,
        origin=value,
    )
    session.delete(row)
    session.flush()
    return value


def post_allowed(
    *,
    origin: str | None,
    fetch_site: str | None,
    own_origin: str,
    allowed: Iterable[str],
) -> bool:
    """May a browser POST with these headers reach the embed form?

    The form in the frame is LeadForm's own page, so its POST carries LeadForm's origin;
    an allowed site may also post it directly. Any other `Origin` (another site, or "null":
    a sandboxed or privacy-restricted document) is refused. Without an `Origin` header
    (older browsers, non-browser clients), `Sec-Fetch-Site: cross-site` is refused; the
    signed form token and the rate limit protect the rest.
    """
    if origin is not None:
        value = origin_of(origin)
        return value is not None and (value == own_origin or value in allowed)
    return fetch_site in (None, "", "same-origin", "same-site", "none")


class AllowlistCache:
    """A per-process copy of the allowlist, reread once it is `ttl` seconds old."""

    def __init__(self, ttl: float) -> None:
        self.ttl = float(ttl)
        # (origins, monotonic expiry) replaced as one value, so threads never see half of it.
        self._entry: tuple[frozenset[str], float] | None = None
        # The last list read, however old: what an embed page is framed with when the
        # database cannot be reached (the form comes back with the person's answers).
        self._last: frozenset[str] = frozenset()

    def origins(self, session: Callable[[], Session]) -> frozenset[str]:
        """The allowed origins, from memory while fresh, else read in `session()`."""
        entry = self._entry
        now = time.monotonic()
        if entry is not None and now < entry[1]:
            return entry[0]
        origins = read_allowlist(session())
        self._last = origins
        if self.ttl > 0:
            self._entry = (origins, now + self.ttl)
        return origins

    def last_known(self) -> frozenset[str]:
        """The last list this process read, stale or not (empty before the first read)."""
        return self._last
