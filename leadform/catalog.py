"""The program catalog and the consent text: loaded from a data file, idempotently."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import ConsentText, Program

PROGRAM_FIELDS = ("name", "level", "summary", "description", "duration", "delivery", "sort_order")
LEVELS = ("certificate", "associate", "bachelor", "master", "doctorate")


class CatalogError(ValueError):
    """The catalog file is not usable; nothing was changed."""


@dataclass
class LoadResult:
    """What a load changed."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    consent_version: int | None = None
    consent_changed: bool = False


def read_catalog(path: str | Path | None = None) -> dict[str, Any]:
    """Read a catalog file, or the bundled one when no path is given."""
    if path is None:
        text = resources.files("leadform.data").joinpath("catalog.json").read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("programs"), list):
        raise CatalogError('expected an object with a "programs" list')
    for item in data["programs"]:
        if not isinstance(item, dict) or not item.get("slug") or not item.get("name"):
            raise CatalogError(f"every program needs a slug and a name: {item!r}")
        if item.get("level", "certificate") not in LEVELS:
            raise CatalogError(f"{item['slug']}: level must be one of {', '.join(LEVELS)}")
    return data


def set_consent_text(session: Session, text: str) -> tuple[ConsentText, bool]:
    """Make this text the active consent version; a new version only when the text changed."""
    text = text.strip()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    current = session.scalars(
        select(ConsentText).where(ConsentText.active.is_(True)).order_by(ConsentText.version.desc())
    ).first()
    if current is not None and current.sha256 == digest:
        return current, False
    latest = session.scalars(
        select(ConsentText.version).order_by(ConsentText.version.desc())
    ).first()
    session.execute(update(ConsentText).values(active=False))
    consent = ConsentText(version=(latest or 0) + 1, text=text, sha256=digest, active=True)
    session.add(consent)
    session.flush()
    return consent, True


def load_catalog(session: Session, data: dict[str, Any]) -> LoadResult:
    """Create or update programs by slug (and the consent text, when the file has one)."""
    result = LoadResult()
    existing = {p.slug: p for p in session.scalars(select(Program))}
    for item in data["programs"]:
        values = {k: item[k] for k in PROGRAM_FIELDS if k in item}
        values.setdefault("level", "certificate")
        values["active"] = bool(item.get("active", True))
        program = existing.get(item["slug"])
        if program is None:
            session.add(Program(slug=item["slug"], **values))
            result.created += 1
            continue
        changed = False
        for key, value in values.items():
            if getattr(program, key) != value:
                setattr(program, key, value)
                changed = True
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1
    if data.get("consent_text"):
        consent, result.consent_changed = set_consent_text(session, data["consent_text"])
        result.consent_version = consent.version
    session.flush()
    return result
