"""What the public pages read on every request, kept per process for a few seconds.

The active programs and consent text change a few times a year (`flask programs load`) but
were read twice per submission. They are cached as plain frozen values, never ORM instances
(those belong to one request's session). CATALOG_CACHE_SECONDS bounds how long a change takes
to show; 0 reads the database every time.

A form records the exact consent version it showed (its id is in the form token). That is
nearly always the active one, already here; an older version, only met by forms left open
across a consent change, is read from the database each time, so one that was deleted is
noticed (the form is then treated as expired) instead of failing its foreign key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...models import ConsentText, Program
from ..routing import routed_program_ids


@dataclass(frozen=True)
class ProgramInfo:
    """An active program as the public pages and the intake service use it."""

    id: int
    slug: str
    name: str
    level: str
    summary: str
    description: str
    duration: str
    delivery: str
    #: Where alerts go while nobody owns a lead (None: LEADFORM_NOTIFY_EMAILS).
    team_email: str | None = None
    #: Has a routing team: False lets intake skip the routing query for this program.
    routed: bool = True

    @classmethod
    def of(cls, program: Program, *, routed: bool = True) -> ProgramInfo:
        """A detached copy of a program row (routed: whether it has a routing team)."""
        return cls(
            id=program.id,
            slug=program.slug,
            name=program.name,
            level=program.level,
            summary=program.summary,
            description=program.description,
            duration=program.duration,
            delivery=program.delivery,
            team_email=program.team_email,
            routed=routed,
        )


@dataclass(frozen=True)
class ConsentInfo:
    """One version of the consent text (immutable once stored)."""

    id: int
    version: int
    text: str
    sha256: str

    @classmethod
    def of(cls, consent: ConsentText) -> ConsentInfo:
        """A detached copy of a consent text row."""
        return cls(id=consent.id, version=consent.version, text=consent.text, sha256=consent.sha256)


@dataclass(frozen=True)
class Catalog:
    """The active programs in catalog order and the active consent text, read together."""

    programs: tuple[ProgramInfo, ...]
    consent: ConsentInfo | None
    by_slug: dict[str, ProgramInfo] = field(compare=False, hash=False, repr=False)


def read_catalog(session: Session) -> Catalog:
    """Read the active programs and the active consent text from the database."""
    routed = routed_program_ids(session)
    programs = tuple(
        ProgramInfo.of(p, routed=p.id in routed)
        for p in session.scalars(
            select(Program)
            .where(Program.active.is_(True))
            .order_by(Program.sort_order, Program.name)
        )
    )
    consent = session.scalars(
        select(ConsentText)
        .where(ConsentText.active.is_(True))
        .order_by(ConsentText.version.desc())
        .limit(1)
    ).first()
    return Catalog(
        programs=programs,
        consent=ConsentInfo.of(consent) if consent is not None else None,
        by_slug={p.slug: p for p in programs},
    )


class CatalogCache:
    """A per-process copy of the catalog, reread once it is `ttl` seconds old."""

    def __init__(self, ttl: float) -> None:
        self.ttl = float(ttl)
        # (catalog, monotonic expiry) replaced as one value, so threads never see half of it.
        self._entry: tuple[Catalog, float] | None = None
        # The last catalog read, however old (even with ttl 0): what a form is shown again
        # with when the database cannot be reached, so the person's answers are kept.
        self._last: Catalog | None = None

    def catalog(self, session: Callable[[], Session]) -> Catalog:
        """The catalog, from memory while fresh, else read in `session()`.

        A callable, so that a page served from memory does not even open a session.
        """
        entry = self._entry
        now = time.monotonic()
        if entry is not None and now < entry[1]:
            return entry[0]
        catalog = read_catalog(session())
        self._last = catalog
        if self.ttl > 0:
            self._entry = (catalog, now + self.ttl)
        return catalog

    def last_known(self) -> Catalog | None:
        """The last catalog this process read, stale or not; None before the first read."""
        return self._last


def consent_version(session: Session, consent_id: int) -> ConsentInfo | None:
    """The consent text version with this id (active or not), or None if there is none."""
    row = session.get(ConsentText, consent_id)
    return ConsentInfo.of(row) if row is not None else None
