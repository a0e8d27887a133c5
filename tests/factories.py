"""Test helpers and factories, importable from any test module (`from factories import ...`).

Fixtures that wrap these live in conftest.py. Leads are made through the core's submit use
case, as every door makes them: a factory never writes rows by hand.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadform.config import refresh_settings
from leadform.context import settings as app_settings
from leadform.core.intake import submit
from leadform.core.intake.catalog import read_catalog
from leadform.core.intake.inquiry import Evidence
from leadform.core.intake.tokens import issue_form_token
from leadform.core.settings import Settings
from leadform.models import Lead, StaffUser

PG_URL = os.environ.get("LEADFORM_TEST_DATABASE_URL")
PROGRAM = "medical-billing-and-coding-certificate"


def valid_form(**overrides: Any) -> dict[str, Any]:
    """A complete, valid request-info submission; override or drop (None) any field."""
    data: dict[str, Any] = {
        "first_name": "Maria",
        "last_name": "O'Neil-Gómez",
        "email": "maria@example.com",
        "phone": "(317) 555-0123",
        "country": "US",
        "postal_code": "46204",
        "program": PROGRAM,
        "start_term": "undecided",
        "education_level": "high_school",
        "military": "none",
        "comments": "Can I study part time?",
        "consent": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def count(db: Session, model: Any) -> int:
    """How many rows a table holds."""
    return db.scalar(select(func.count()).select_from(model)) or 0


def form_token(app: Flask, *, age: float = 0.0) -> str:
    """A form token as the app signs it, issued `age` seconds ago."""
    with app.app_context():
        return issue_form_token(app_settings(), issued_at=time.time() - age)


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs (tokens, attribution) of a rendered form."""
    found = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name and 'type="hidden"' in tag:
            found[name.group(1)] = value.group(1) if value else ""
    return found


def set_config(app: Flask, **changes: Any) -> Settings:
    """Change settings of a running test app (app.config and the typed Settings together)."""
    app.config.update(changes)
    return refresh_settings(app)


def create_lead(
    db: Session,
    settings: Settings,
    email: str = "lead@example.com",
    program: str = PROGRAM,
    *,
    owner: StaffUser | None = None,
    status: str | None = None,
    **values: Any,
) -> Lead:
    """Store a lead through the submit use case (committed); extra keywords are form fields.

    first_name and last_name are set on the person afterwards, as staff would edit them, so
    a test can arrange names the form refuses (markup, an empty last name).
    """
    utm = {k: values.pop(k) for k in list(values) if k.startswith("utm_")}
    names = {k: values.pop(k) for k in ("first_name", "last_name") if k in values}
    catalog = read_catalog(db)
    assert catalog.consent is not None
    fields = {
        "first_name": "Pat",
        "last_name": "Jones",
        "email": email,
        "program": program,
        "consent": True,
        **values,
    }
    done = submit.submit(
        db,
        submit.Received(
            fields=fields,
            evidence=Evidence(ip="203.0.113.7", user_agent="pytest", utm=utm),
            idempotency_key=f"test:{secrets.token_hex(8)}",
            consent=catalog.consent,
        ),
        programs=catalog.by_slug,
        settings=settings,
        screen=False,
    )
    assert done.outcome is not None
    lead = done.outcome.lead(db)
    for name, value in names.items():
        setattr(lead.prospect, name, value)
    if owner is not None:
        lead.owner_id = owner.id
    if status is not None:
        lead.status = status
    db.commit()
    return lead
