"""The program catalog and the consent text: loaded from a data file, idempotently."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..models import ConsentText, Program

PROGRAM_FIELDS = ("name", "level", "summary", "description", "duration", "delivery", "sort_order")
LEVELS = ("certificate", "associate", "bachelor", "master", "doctorate")
#: Text fields of a program and their column lengths (None: unlimited).
TEXT_FIELDS: dict[str, int | None] = {
    "name": 200,
    "summary": None,
    "description": None,
    "duration": 80,
    "delivery": 80,
}
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


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
    """Read and check a catalog file, or the bundled one when no path is given."""
    try:
        if path is None:
            text = resources.files("leadform.data").joinpath("catalog.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise CatalogError(f"cannot read the file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("programs"), list):
        raise CatalogError('expected an object with a "programs" list')
    seen: set[str] = set()
    for item in data["programs"]:
        _check_program(item, seen)
    consent = data.get("consent_text")
    if consent is not None and (not isinstance(consent, str) or not consent.strip()):
        raise CatalogError("consent_text must be the text of the consent, not empty")
    return data


def _check_program(item: Any, seen: set[str]) -> None:
    """Refuse an entry the database would refuse, before anything is written."""
    if not isinstance(item, dict) or not item.get("slug") or not item.get("name"):
        raise CatalogError(f"every program needs a slug and a name: {item!r}")
    slug = item["slug"]
    if not isinstance(slug, str) or len(slug) > 80 or not SLUG.fullmatch(slug):
        raise CatalogError(
            f"{slug!r}: a slug is lowercase letters, digits and hyphens, up to 80 characters"
        )
    if slug in seen:
        raise CatalogError(f"{slug}: listed more than once")
    seen.add(slug)
    for key, length in TEXT_FIELDS.items():
        value = item.get(key, "")
        if not isinstance(value, str) or (length is not None and len(value) > length):
            limit = f" of up to {length} characters" if length is not None else ""
            raise CatalogError(f"{slug}: {key} must be text{limit}")
    if item.get("level", "certificate") not in LEVELS:
        raise CatalogError(f"{slug}: level must be one of {', '.join(LEVELS)}")
    if type(item.get("sort_order", 0)) is not int:  # not bool, which is an int too
        raise CatalogError(f"{slug}: sort_order must be a whole number")
    if not isinstance(item.get("active", True), bool):
        raise CatalogError(f"{slug}: active must be true or false")


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
