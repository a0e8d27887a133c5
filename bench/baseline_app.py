"""The benchmark baseline: a bare Flask view that INSERTs one submission-shaped row.

Served by gunicorn next to LeadForm in bench/submit.py, with the same settings, on the same
PostgreSQL server: `gunicorn --pythonpath bench 'baseline_app:create_app()'`. It reads the
database URL from BENCH_BASELINE_DATABASE_URL. It takes the same form fields LeadForm's POST
takes, stores them without any validation, dedupe or CSRF, and answers like LeadForm does
(303 to a thanks page), so the difference between the two is what LeadForm does on top.

`POST /submit` is the baseline the target is set against. `GET /request-info` and
`POST /request-info` are a reference, not a target: the least a Flask app can do for one
submission as a browser makes it (serve a fixed form page with two hidden inputs, then the
same INSERT), driven by the very client code that drives LeadForm.
"""

from __future__ import annotations

import datetime as dt
import os

from flask import Flask, redirect, request
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    Table,
    Text,
    create_engine,
    insert,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable
from werkzeug.wrappers import Response

#: The form fields a browser posts to /request-info, each stored in a text column.
FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "postal_code",
    "country",
    "program",
    "start_term",
    "education_level",
    "military",
    "comments",
    "consent",
    "sms_opt_in",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "website",
    "form_token",
)
#: Request evidence LeadForm also records, stored in text columns too.
EVIDENCE = ("ip", "user_agent", "page_url")

#: The table: a submission's shape, every field a text column.
TABLE = Table(
    "bench_submissions",
    MetaData(),
    Column("id", BigInteger, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    *(Column(name, Text, nullable=False, server_default="") for name in FIELDS + EVIDENCE),
)
#: Its DDL, run by the benchmark before the baseline server starts.
CREATE_TABLE = str(CreateTable(TABLE, if_not_exists=True).compile(dialect=postgresql.dialect()))
_INSERT = insert(TABLE)

#: The reference form page: LeadForm's page size, fixed hidden "tokens" (nothing is checked).
FORM_PAGE = (
    "<!doctype html><html lang=en><title>Request information</title><body>"
    + "<p>"
    + "A program page and its request-info form. " * 450
    + "</p>"
    + '<form method=post action="/request-info">'
    + '<input type="hidden" name="csrf_token" value="reference-csrf">'
    + '<input type="hidden" name="form_token" value="reference-form">'
    + "</form></body></html>"
)


def _postgresql_psycopg(url: str) -> str:
    """Use psycopg 3, as LeadForm does, for a plain postgresql:// URL."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_app() -> Flask:
    """The baseline app: one engine with LeadForm's pool settings, one view."""
    app = Flask(__name__)
    engine = create_engine(
        _postgresql_psycopg(os.environ["BENCH_BASELINE_DATABASE_URL"]),
        pool_size=5,
        max_overflow=5,
        # As LeadForm's engine (leadform.db.build_engine): same pool, same checkout ping.
        pool_pre_ping=True,
    )

    def store(thanks: str) -> Response:
        row = {name: request.form.get(name, "") for name in FIELDS}
        row["ip"] = request.remote_addr or ""
        row["user_agent"] = request.headers.get("User-Agent", "")
        row["page_url"] = request.referrer or request.url
        row["received_at"] = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            conn.execute(_INSERT, row)
        return redirect(thanks, code=303)

    @app.post("/submit")
    def submit() -> Response:
        """Store the posted fields as one row, commit, and redirect like LeadForm."""
        return store("/thanks")

    @app.get("/request-info")
    def form_page() -> str:
        """The reference: a fixed form page, nothing personal, nothing signed."""
        return FORM_PAGE

    @app.post("/request-info")
    def form_post() -> Response:
        """The reference: the same INSERT as /submit, answered like LeadForm's POST."""
        return store("/request-info/thanks")

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        """Ready once the database answers."""
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}

    return app
