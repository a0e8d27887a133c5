"""Where a JSON API request's CPU time goes, in-process (no HTTP server, no client).

    .venv/bin/python bench/api_profile.py [--requests 400] [--postgres URL] [--profile]

Creates a throwaway PostgreSQL database, drives POST /api/v1/leads (with and without an
Idempotency-Key) and, for comparison, the form's GET + POST through Flask's test client, and
prints the process CPU milliseconds per request of each (time.process_time: this process
only, so the database server's work is not counted). With --profile it also prints the
functions where the API request spends its time (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from leadform import create_app  # noqa: E402
from leadform.context import get_engine, get_session  # noqa: E402
from leadform.core import apikeys, audit  # noqa: E402
from leadform.core.programs import load_catalog, read_catalog  # noqa: E402
from leadform.db import Base  # noqa: E402

_HIDDEN = re.compile(r'<input[^>]*name="(csrf_token|form_token)"[^>]*value="([^"]*)"')


def person(i: int) -> dict[str, object]:
    """A valid request, a new person each time."""
    return {
        "first_name": "Maria",
        "last_name": "O'Neil-Gómez",
        "email": f"prof.{os.getpid()}.{i}@example.com",
        "phone": "(317) 555-0142",
        "country": "US",
        "postal_code": "46204",
        "program": "medical-billing-and-coding-certificate",
        "start_term": "undecided",
        "education_level": "high_school",
        "military": "none",
        "comments": "Can I study part time while working?",
        "utm_source": "bench",
        "utm_medium": "cpc",
        "utm_campaign": "fall",
        "ip": "198.51.100.7",
        "user_agent": "Mozilla/5.0 bench",
        "page_url": "https://landing.example.edu/billing",
        "referrer": "https://www.google.com/",
    }


def measure(label: str, n: int, one: Callable[[int], None]) -> float:
    """CPU ms per call of `one` over n calls (after a short warm-up)."""
    for i in range(20):
        one(-1 - i)
    start = time.process_time()
    for i in range(n):
        one(i)
    per = (time.process_time() - start) / n * 1000
    print(f"  {label:52} {per:6.2f} ms CPU per request")
    return per


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
    )
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    name = f"leadform_apiprof_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        app = create_app(
            {
                "ENV": "production",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "DATABASE_URL": f"{args.postgres}/{name}",
                "RATELIMIT_ENABLED": False,
                "MIN_FORM_SECONDS": 0,
                "SESSION_COOKIE_SECURE": False,
            }
        )
        with app.app_context():
            Base.metadata.create_all(get_engine())
            session = get_session()
            load_catalog(session, read_catalog())
            _key, key = apikeys.create_key(session, "prof", [], audit.Actor(via="cli"))
            session.commit()
        client = app.test_client()
        auth = {"Authorization": f"Bearer {key}"}

        def api(i: int, idem: bool = True) -> None:
            headers = {**auth, "Idempotency-Key": secrets.token_hex(8)} if idem else auth
            body = {**person(i), "consent": True, "sms_opt_in": True}
            response = client.post("/api/v1/leads", json=body, headers=headers)
            assert response.status_code in (200, 201), response.get_data(as_text=True)

        def form(i: int) -> None:
            client.delete_cookie("leadform_session")
            page = client.get("/request-info?program=medical-billing-and-coding-certificate")
            tokens = dict(_HIDDEN.findall(page.get_data(as_text=True)))
            fields = {k: str(v) for k, v in person(i).items()}
            data = {**tokens, **fields, "consent": "y", "sms_opt_in": "y", "website": ""}
            response = client.post(
                "/request-info", data=data, headers={"Referer": "http://localhost/request-info"}
            )
            assert response.status_code == 303, response.status_code

        os.environ["BENCH_BASELINE_DATABASE_URL"] = f"{args.postgres}/{name}"
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import baseline_app

        with psycopg.connect(f"{args.postgres}/{name}", autocommit=True) as conn:
            conn.execute(baseline_app.CREATE_TABLE)
        baseline = baseline_app.create_app().test_client()

        def bare_insert(i: int) -> None:
            fields = {k: str(v) for k, v in person(i).items()}
            data = {"csrf_token": "x" * 80, "form_token": "y" * 80, **fields, "consent": "y"}
            assert baseline.post("/submit", data=data).status_code == 303

        def programs(_i: int) -> None:
            assert client.get("/api/v1/programs").status_code == 200

        print(f"in-process, {args.requests} requests each, PostgreSQL, test client:")
        measure("POST /api/v1/leads with an Idempotency-Key", args.requests, api)
        measure(
            "POST /api/v1/leads without one", args.requests, lambda i: api(i + 10**6, idem=False)
        )
        measure(
            "form: GET /request-info + POST /request-info",
            args.requests,
            lambda i: form(i + 2 * 10**6),
        )
        measure("GET /api/v1/programs (framework floor)", args.requests, programs)
        measure("baseline: POST /submit (one INSERT)", args.requests, bare_insert)
        if args.profile:
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            for i in range(args.requests):
                api(i + 3 * 10**6)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
                r"leadform|pool|commit|connect", 40
            )
            print(out.getvalue())
        with app.app_context():
            get_engine().dispose()
    finally:
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(drop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
