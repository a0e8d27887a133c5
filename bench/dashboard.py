"""Benchmark the staff queue and the CSV export at a million leads on PostgreSQL.

    .venv/bin/python bench/dashboard.py [--leads 1000000] [--runs 30] [--page-runs 20]
        [--explain] [--keep] [--reuse] [--time-limit 1800]

One run, on a throwaway PostgreSQL database it creates (and drops unless --keep):
1. Schema by the real migrations (`alembic upgrade head`), then the secondary indexes are
   dropped, programs, staff, prospects, leads and submissions are loaded with COPY, the
   indexes rebuilt from the migration's own definitions, then VACUUM ANALYZE.
   Distributions: 50 programs (Zipf-like popularity), 10 counselors (uneven load), statuses
   by lead age (recent leads open, old ones closed), follow-ups on open leads, UTM values,
   ~1.2 leads per prospect, 1-3 submissions per lead, 3 years of arrivals skewed recent.
2. Each queue query through the app's own code (leadform/core/leads/queue.py), repeated --runs
   times after a warm-up: p50 and p95, and their ratio to a primary-key lookup timed the
   same way. The whole GET /staff/ request (test client) is timed too.
2b. Whole staff pages over HTTP, as a manager sees them: gunicorn with 4 sync workers (as the
   README deploys it) on the same database, a manager signed in through /staff/login, an
   httpx client; per page 12 warm-ups then --page-runs timed requests (wall clock of the whole
   request and response body), p50 and p95, beside GET /healthz timed the same way. Pages:
   the queue, status tabs, a program filter, program + status + owner, name / email-prefix /
   phone search, 50 pages deep (following the after= link), a lead page, spam review and
   delivery. The server is stopped on exit, also when --time-limit or SIGTERM ends the run.
3. The CSV export through the real view (Flask test client, streamed response read in
   chunks) in a fresh process per size, at ~100k rows and at every row: peak RSS growth
   (VmHWM after, minus VmRSS before, with the peak reset via /proc/self/clear_refs).
Targets: p95 <= 50 ms per queue query; p95 <= 100 ms per staff page over HTTP; export RSS
growth <= 50 MB, about the same at both sizes.
Exit status: 0 when every target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import array
import bisect
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_DATABASE", "leadform_bench_dashboard")
PASSWORD = "bench password 123"  # noqa: S105 - a throwaway local database
SEED = 20261127
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)

FIRST = (  # noqa: SIM905 - a word list reads better as one string
    "Maria James Aisha Wei Carlos Priya Tom Olivia Noah Fatima Liam Sofia Ethan Grace "
    "Diego Hana Mateo Chloe Omar Zoe Lucas Amara Ivan Nina Kofi Elena Raj Mia Jamal Leah "
    "Andre Yuki Isabel Kwame Sara Hugo Layla Marco Anya Tariq Emma Luis Ava Kai Rosa Ben "
    "Dana Samir Jade"
).split()
LAST = (  # noqa: SIM905 - a word list reads better as one string
    "Gomez Smith Khan Chen ONeil Patel Nguyen Johnson Okafor Muller Rossi Kim Brown "
    "Davis Garcia Lopez Wilson Moore Taylor Thomas Lee Martin Clark Lewis Walker Hall "
    "Allen Young King Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell "
    "Roberts Carter Phillips"
).split()
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com")
AREA_CODES = (317, 312, 773, 212, 646, 415, 213, 305, 404, 512, 617, 206, 303, 702, 214)
SOURCES = (
    ("google", "cpc", 40),
    ("facebook", "social", 20),
    ("instagram", "social", 8),
    ("bing", "cpc", 5),
    ("newsletter", "email", 7),
    (None, None, 20),
)
CAMPAIGNS = [
    f"{season}-{year}-{topic}"
    for season in ("fall", "spring", "summer")
    for year in (2024, 2025, 2026)
    for topic in ("nursing", "health-it", "mba", "cert")
]
OPEN = ("new", "attempted", "contacted", "qualified", "applied")


def log(message: str) -> None:
    """Progress on stderr, results on stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def db_url(name: str = DB_NAME) -> str:
    """The bench database's URL (psycopg form)."""
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


# --------------------------------------------------------------------------- load


class Picker:
    """Weighted random choice by bisection over cumulative weights (random.choices is slow)."""

    def __init__(self, rng: random.Random, weighted: dict[Any, float]) -> None:
        self.rng = rng
        self.values = list(weighted)
        self.cum = list(itertools.accumulate(weighted.values()))
        self.total = self.cum[-1]

    def __call__(self) -> Any:
        """One value, with probability proportional to its weight."""
        return self.values[bisect.bisect(self.cum, self.rng.random() * self.total)]


#: Status by lead age: recent leads are being worked, old ones have mostly closed.
STATUS_BY_AGE = (
    (2, {"new": 60, "attempted": 25, "contacted": 15}),
    (
        60,
        {
            "new": 4,
            "attempted": 20,
            "contacted": 25,
            "qualified": 20,
            "applied": 8,
            "not_interested": 12,
            "unreachable": 10,
            "invalid": 1,
        },
    ),
    (
        10**9,
        {
            "enrolled": 12,
            "applied": 6,
            "qualified": 4,
            "contacted": 4,
            "attempted": 2,
            "not_interested": 37,
            "unreachable": 30,
            "invalid": 5,
        },
    ),
)


#: NULL in COPY text format.
NULL = "\\N"


def iso(epoch: float) -> str:
    """A UTC timestamp in COPY text format."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


class Copier:
    """Buffered COPY ... FROM STDIN in text format: much faster than a row at a time."""

    def __init__(self, copy: Any) -> None:
        self.copy = copy
        self.lines: list[str] = []

    def line(self, line: str) -> None:
        """Queue one row, already in COPY text format (generated values hold no tab,
        newline or backslash, so nothing needs escaping)."""
        self.lines.append(line)
        if len(self.lines) >= 20_000:
            self.flush()

    def flush(self) -> None:
        """Send the queued rows."""
        if self.lines:
            self.copy.write("\n".join(self.lines) + "\n")
            self.lines = []


def load(conn: psycopg.Connection, n_leads: int) -> dict[str, Any]:
    """Fill the schema with n_leads leads (and their prospects and submissions) by COPY."""
    from argon2 import PasswordHasher, profiles

    rng = random.Random(SEED)
    with conn.cursor() as cur:
        # Secondary indexes are rebuilt after the load (much faster than maintaining them).
        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('prospects', 'leads', 'submissions') "
            "AND indexname NOT LIKE 'pk_%' AND indexname NOT LIKE 'uq_%'"
        )
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        cur.execute("SELECT id, sha256 FROM consent_texts WHERE active ORDER BY version DESC")
        consent_id, consent_sha = cur.fetchone()
        cur.execute("SELECT count(*) FROM programs")
        for i in range(50 - cur.fetchone()[0]):
            cur.execute(
                "INSERT INTO programs (slug, name, level, summary, description, duration, "
                "delivery, active, sort_order, created_at, updated_at) "
                "VALUES (%s, %s, 'certificate', '', '', '', '', true, %s, now(), now())",
                (f"bench-program-{i:02d}", f"Bench Program {i:02d}", 100 + i),
            )
        cur.execute("SELECT id FROM programs ORDER BY sort_order, id")
        programs = [row[0] for row in cur.fetchall()]
        # The bench app verifies with the CHEAPEST profile too (ARGON2_PROFILE below).
        password_hash = PasswordHasher.from_parameters(profiles.CHEAPEST).hash(PASSWORD)
        staff = []
        for i, role in enumerate(["manager", "admin"] + ["counselor"] * 10):
            cur.execute(
                "INSERT INTO staff_users (email, name, password_hash, role, active, away, "
                "session_version, created_at) VALUES (%s, %s, %s, %s, true, false, 1, now()) "
                "RETURNING id",
                (f"{role}{i}@bench.example.com", f"{role.title()} {i}", password_hash, role),
            )
            staff.append((cur.fetchone()[0], role))
    counselors = [sid for sid, role in staff if role == "counselor"]

    # A few programs draw most inquiries (Zipf-like); counselors carry uneven loads.
    pick_program = Picker(rng, {i: 1 / (i + 1) ** 0.8 for i in range(len(programs))})
    pick_owner = Picker(
        rng, dict(zip(counselors, (1.6, 1.4, 1.3, 1.2, 1.0, 1.0, 0.9, 0.8, 0.5, 0.3), strict=True))
    )
    pick_source = Picker(rng, {(s, m): w for s, m, w in SOURCES})
    pick_count = Picker(rng, {1: 85, 2: 12, 3: 3})
    pick_status = [(days, Picker(rng, weights)) for days, weights in STATUS_BY_AGE]

    # Per lead, what later passes need again (about 17 bytes a lead).
    lead_prospect = array.array("i")
    lead_program = array.array("h")
    lead_created = array.array("d")
    lead_subs = array.array("b")
    emails: list[str] = []
    phones: list[str | None] = []
    now_ts = NOW.timestamp()
    span = 3 * 365 * 86400

    from leadform.core.leads.search import search_name

    log(f"COPY prospects ({n_leads:,} leads planned)")
    with conn.cursor() as cur:
        # Generated rows are consistent by construction; skipping the per-row foreign-key
        # triggers (superuser, this throwaway database only) speeds the load up.
        cur.execute("SET session_replication_role = replica")
        with cur.copy(
            "COPY prospects (id, email_normalized, email, first_name, last_name, search_name, "
            "phone, postal_code, country, consent, consent_text_id, consent_at, sms_opt_in, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            out = Copier(copy)
            pid = planned = 0
            while planned < n_leads:
                pid += 1
                first, last = rng.choice(FIRST), rng.choice(LAST)
                email = f"{first}.{last}{pid}@{rng.choice(DOMAINS)}".lower()
                phone = None
                if rng.random() < 0.7:
                    phone = (
                        f"+1{rng.choice(AREA_CODES)}{200 + int(rng.random() * 800)}"
                        f"{int(rng.random() * 10000):04d}"
                    )
                emails.append(email)
                phones.append(phone)
                n = min(pick_count(), n_leads - planned)
                created_ts = now_ts - span * rng.random() ** 1.6  # more leads lately
                chosen: set[int] = set()
                while len(chosen) < n:
                    chosen.add(pick_program())
                for k, program in enumerate(sorted(chosen)):
                    lead_prospect.append(pid)
                    lead_program.append(program)
                    # Another program is asked about within a month or so.
                    later = created_ts + k * rng.random() * 30 * 86400
                    lead_created.append(min(later, now_ts - 60))
                    lead_subs.append(pick_count())
                planned += n
                created = iso(created_ts)
                out.line(
                    f"{pid}\t{email}\t{email}\t{first}\t{last}\t{search_name(first, last)}\t"
                    f"{phone or NULL}\t"
                    f"{10000 + int(rng.random() * 90000)}\tUS\tt\t{consent_id}\t{created}\t"
                    f"{'t' if rng.random() < 0.3 else 'f'}\t{created}\t{created}"
                )
            out.flush()

        log("COPY leads")
        # Arrival order: ids follow created_at, as they do in production.
        order = sorted(range(n_leads), key=lead_created.__getitem__)
        with cur.copy(
            "COPY leads (id, public_id, prospect_id, program_id, status, owner_id, "
            "first_contacted_at, next_follow_up_at, last_submitted_at, submission_count, "
            "utm_source, utm_medium, utm_campaign, created_at, updated_at) FROM STDIN"
        ) as copy:
            out = Copier(copy)
            for lead_id, i in enumerate(order, start=1):
                created_ts = lead_created[i]
                age_days = (now_ts - created_ts) / 86400
                status = next(pick() for days, pick in pick_status if age_days < days)
                # New leads wait in the unassigned queue more often than worked ones.
                unassigned = rng.random() < (0.4 if status == "new" else 0.03)
                owner = NULL if unassigned else pick_owner()
                contacted = NULL
                if status != "new":
                    contacted = iso(created_ts + rng.expovariate(1 / 7200))
                follow_up = NULL
                worked = status in OPEN and status != "new"
                if (worked and rng.random() < 0.6) or rng.random() < 0.02:
                    follow_up = iso(now_ts + rng.uniform(-7 * 86400, 30 * 86400))
                source, medium = pick_source()
                campaign = rng.choice(CAMPAIGNS) if source else NULL
                subs = lead_subs[i]
                created = iso(created_ts)
                # The latest request: the queue's "Received" and its sort key. Re-submissions
                # come a day apart, never in the future.
                last_ts = min(created_ts + (subs - 1) * 86400, now_ts - 60)
                last = iso(last_ts)
                out.line(
                    f"{lead_id}\t{rng.getrandbits(128):032x}\t{lead_prospect[i]}\t{programs[lead_program[i]]}\t{status}\t"
                    f"{owner}\t{contacted}\t{follow_up}\t{last}\t{subs}\t{source or NULL}\t"
                    f"{medium or NULL}\t{campaign}\t{created}\t{created}"
                )
            out.flush()

        log("INSERT submissions (generated by the server from the leads)")
        cur.execute(
            "INSERT INTO submissions (idempotency_key, lead_id, prospect_id, program_id, "
            "program_slug, first_name, last_name, email, phone, phone_e164, postal_code, "
            "country, start_term, education_level, military, comments, sms_opt_in, consent, "
            "consent_text_id, consent_version, consent_sha256, channel, received_at, ip, "
            "user_agent, page_url, referrer, utm_source, utm_medium, utm_campaign, utm_term, "
            "utm_content, spam_verdict, spam_reasons) "
            "SELECT 'bench:' || l.id || ':' || k, l.id, l.prospect_id, l.program_id, g.slug, "
            "p.first_name, p.last_name, p.email, coalesce(p.phone, ''), p.phone, "
            "p.postal_code, 'US', '', '', '', '', false, true, %s, 1, %s, 'form', "
            "least(l.created_at + k * interval '1 day', l.last_submitted_at), "
            "'198.51.100.7', 'bench', '', '', "
            "coalesce(l.utm_source, ''), coalesce(l.utm_medium, ''), "
            "coalesce(l.utm_campaign, ''), '', '', 'ok', '' "
            "FROM leads l JOIN prospects p ON p.id = l.prospect_id "
            "JOIN programs g ON g.id = l.program_id, "
            "generate_series(0, l.submission_count - 1) AS k",
            (consent_id, consent_sha),
        )
        cur.execute("SET session_replication_role = origin")
    conn.commit()

    log(f"rebuild {len(indexes)} indexes")
    with conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '256MB'")
        for name, definition in indexes:
            t0 = time.perf_counter()
            cur.execute(definition)
            log(f"  {name}: {time.perf_counter() - t0:.1f}s")
        for table in ("prospects", "leads", "submissions", "staff_users", "programs"):
            cur.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'id'), max(id)) FROM {}").format(
                    sql.Literal(table), sql.Identifier(table)
                )
            )
    conn.commit()
    conn.autocommit = True
    log("VACUUM ANALYZE")
    conn.execute("VACUUM ANALYZE")
    conn.autocommit = False
    return {
        "counselors": counselors,
        "manager": next(sid for sid, role in staff if role == "manager"),
        "emails": emails,
        "phones": [p for p in phones if p],
    }


def load_review_queues(conn: psycopg.Connection[Any]) -> None:
    """Fill the spam review and the delivery page as a busy year leaves them (once per
    database): a bot wave of 20,000 held submissions over the last 30 days, the older
    15,000 of them already dismissed by a manager; two outbox messages (staff alert and the
    prospect's confirmation) for every lead of the last 120 days, sent, except those of a
    two-day mail outage 60 days ago, which gave up, and the last hour's, still pending."""
    if conn.execute("SELECT count(*) FROM outbox_messages").fetchone()[0]:
        return
    log("held submissions and outbox messages")
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO submissions (idempotency_key, program_id, program_slug, first_name, "
            "last_name, email, phone, postal_code, country, start_term, education_level, "
            "military, comments, sms_opt_in, consent, channel, received_at, ip, user_agent, "
            "page_url, referrer, utm_source, utm_medium, utm_campaign, utm_term, utm_content, "
            "spam_verdict, spam_reasons) "
            "SELECT 'bench-held:' || k, g.id, g.slug, 'Bot', 'Wave ' || k, "
            "'bot' || k || '@spam.example.com', '', '', 'US', '', '', '', 'buy now', false, "
            "true, 'form', now() - (k * interval '2 minutes'), '203.0.113.9', 'bot', '', '', "
            "'', '', '', '', '', 'quarantined', 'honeypot' "
            "FROM generate_series(1, 20000) AS k, "
            "(SELECT id, slug FROM programs ORDER BY id LIMIT 1) AS g"
        )
        cur.execute(
            "INSERT INTO spam_reviews (submission_id, decision, reviewer_id, reviewed_at) "
            "SELECT s.id, 'dismissed', %s, now() FROM submissions s "
            "WHERE s.idempotency_key LIKE 'bench-held:%%' "
            "AND split_part(s.idempotency_key, ':', 2)::int > 5000",
            (conn.execute("SELECT min(id) FROM staff_users").fetchone()[0],),
        )
        cur.execute(
            "INSERT INTO outbox_messages (event_id, kind, payload, status, attempts, "
            "next_attempt_at, last_error, created_at) "
            "SELECT gen_random_uuid()::text, 'email', json_build_object('to', "
            "json_build_array(CASE k WHEN 0 THEN 'admissions@bench.example.com' "
            "ELSE 'person' || l.prospect_id || '@example.com' END), 'subject', "
            "CASE k WHEN 0 THEN 'New lead' ELSE 'Thanks for your request' END), "
            "CASE WHEN l.created_at > now() - interval '1 hour' THEN 'pending' "
            "WHEN l.created_at BETWEEN now() - interval '61 days' AND now() - interval '59 days' "
            "THEN 'dead' ELSE 'sent' END, 1, l.created_at, "
            "CASE WHEN l.created_at BETWEEN now() - interval '61 days' "
            "AND now() - interval '59 days' THEN 'SMTP 421: service not available' "
            "ELSE '' END, l.created_at "
            "FROM leads l, generate_series(0, 1) AS k "
            "WHERE l.created_at > now() - interval '120 days' ORDER BY l.created_at, k"
        )
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE submissions, spam_reviews, outbox_messages")
    conn.autocommit = False


# --------------------------------------------------------------------------- measure


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of the samples."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def timed(fn: Callable[[int], Any], runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds per call of fn(run), after warm-up calls."""
    for i in range(warmup):
        fn(-1 - i)
    samples = []
    for i in range(runs):
        t0 = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def us_phone(e164: str) -> str:
    """+13175550123 as a person types it: (317) 555-0123."""
    digits = e164[2:]
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


@contextlib.contextmanager
def captured_sql(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """Collect the SQL statements (and parameters) the block executes."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def measure(info: dict[str, Any], runs: int, explain: bool) -> list[dict[str, Any]]:
    """Time each queue query through the core's queue; optionally print EXPLAIN ANALYZE."""
    from sqlalchemy import select, text

    from leadform import create_app
    from leadform.context import get_engine, get_session
    from leadform.core.leads import queue
    from leadform.models import Lead, Program

    app = create_app(bench_config())
    rng = random.Random(SEED + 1)
    results = []
    with app.app_context():
        session = get_session()
        session.execute(text("SET statement_timeout = '10s'"))
        session.commit()
        manager = queue.Viewer(user_id=info["manager"], sees_all=True)
        counselor = queue.Viewer(user_id=info["counselors"][0], sees_all=False)
        none = queue.QueueFilters()
        size = app.config["QUEUE_PAGE_SIZE"]
        cap = app.config["QUEUE_COUNT_CAP"]
        top_program = session.scalar(
            select(Lead.program_id)
            .group_by(Lead.program_id)
            .order_by(text("count(*) DESC"))
            .limit(1)
        )
        program_name = session.get(Program, top_program).name
        max_id = session.scalar(select(Lead.id).order_by(Lead.id.desc()).limit(1))

        def page(
            filters: queue.QueueFilters, viewer: queue.Viewer, after: str | None = None
        ) -> Any:
            return queue.fetch_page(session, filters, viewer, now=NOW, size=size, after=after)

        log("following cursors to page 400")
        cursor = None
        for _ in range(399):
            cursor = page(none, manager, cursor).next_cursor
        deep_cursor = cursor
        cursor = None
        for _ in range(399):
            cursor = page(none, counselor, cursor).next_cursor
        deep_counselor = cursor
        filtered = queue.QueueFilters(
            program_id=top_program, status="contacted", owner=info["counselors"][1]
        )
        emails, phones = info["emails"], info["phones"]

        cases: list[tuple[str, Callable[[int], Any]]] = [
            (
                "baseline: primary-key lookup",
                lambda i: session.execute(
                    select(Lead.id, Lead.status).where(Lead.id == rng.randint(1, max_id))
                ).one(),
            ),
            ("baseline: SELECT 1", lambda i: session.execute(text("SELECT 1")).one()),
            ("queue page 1 (manager, newest)", lambda i: page(none, manager)),
            ("queue page 1 (counselor: own + unassigned)", lambda i: page(none, counselor)),
            ("queue page 400 (manager, keyset)", lambda i: page(none, manager, deep_cursor)),
            ("queue page 400 (counselor, keyset)", lambda i: page(none, counselor, deep_counselor)),
            (
                f"filtered page: program ({program_name}) + status + owner",
                lambda i: page(filtered, manager),
            ),
            (
                "page 1 sorted by next follow-up",
                lambda i: page(queue.QueueFilters(sort="follow_up"), manager),
            ),
            (
                "overdue follow-ups page 1",
                lambda i: page(queue.QueueFilters(overdue=True), manager),
            ),
            (
                "search by email (exact address)",
                lambda i: page(queue.QueueFilters(search=rng.choice(emails)), manager),
            ),
            (
                "search by email (prefix 'maria.gomez1')",
                lambda i: page(queue.QueueFilters(search="maria.gomez1"), manager),
            ),
            (
                "search by phone '(317) 555-0123' format",
                lambda i: page(queue.QueueFilters(search=us_phone(rng.choice(phones))), manager),
            ),
            (
                "search by name 'maria gom'",
                lambda i: page(queue.QueueFilters(search="maria gom"), manager),
            ),
            (
                f"status counts (12 tab counts capped at {cap:,}, manager)",
                lambda i: queue.tab_counts(session, none, manager, now=NOW, cap=cap),
            ),
            (
                "status counts (counselor)",
                lambda i: queue.tab_counts(session, none, counselor, now=NOW, cap=cap),
            ),
            (
                "status counts (program filter)",
                lambda i: queue.tab_counts(
                    session,
                    queue.QueueFilters(program_id=top_program),
                    manager,
                    now=NOW,
                    cap=cap,
                ),
            ),
        ]
        for name, fn in cases:
            samples = timed(fn, runs)
            session.commit()
            results.append(
                {
                    "name": name,
                    "p50": statistics.median(samples),
                    "p95": percentile(samples, 0.95),
                    "query": not name.startswith("baseline"),
                }
            )
            log(f"  {name}: p50 {results[-1]['p50']:.2f} ms, p95 {results[-1]['p95']:.2f} ms")
            if explain and not name.startswith("baseline"):
                with captured_sql(get_engine()) as seen:
                    fn(0)
                for statement, params in seen:
                    print(f"\n-- {name}\n{statement}\n{params}")
                    plan = session.connection().exec_driver_sql(
                        "EXPLAIN (ANALYZE, BUFFERS) " + statement, params
                    )
                    print("\n".join(row[0] for row in plan))
                session.commit()

    # The whole page: filters, page, counts, audit insert and commit, template.
    client = app.test_client()
    login = client.post(
        "/staff/login", data={"email": "manager0@bench.example.com", "password": PASSWORD}
    )
    assert login.status_code == 303, login.status_code
    samples = timed(lambda i: client.get("/staff/").close(), runs)
    results.append(
        {
            "name": "whole GET /staff/ request (manager, test client)",
            "p50": statistics.median(samples),
            "p95": percentile(samples, 0.95),
            "query": False,
        }
    )
    log(f"  whole page: p50 {results[-1]['p50']:.2f} ms, p95 {results[-1]['p95']:.2f} ms")
    with app.app_context():
        get_engine().dispose()
    return results


# --------------------------------------------------------------------------- pages over HTTP

#: The staff pages' target: a manager's whole request, p95.
PAGE_TARGET_MS = 100
HTTP_WORKERS = 4


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(workers: int = HTTP_WORKERS) -> Iterator[str]:
    """gunicorn (sync workers, as the README deploys it) on the bench database; stopped on exit."""
    import httpx

    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "LEADFORM_DATABASE_URL": db_url(),
            "LEADFORM_SECRET_KEY": bench_config()["SECRET_KEY"],
            "LEADFORM_WTF_CSRF_ENABLED": "false",
            "LEADFORM_RATELIMIT_ENABLED": "false",
            "LEADFORM_ARGON2_PROFILE": "CHEAPEST",
        }
    )
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "leadform:create_app()",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group: stopped as a whole below
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {server.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /healthz within 60 s")
            time.sleep(0.3)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def page_targets(info: dict[str, Any]) -> dict[str, Any]:
    """What the page list needs from the data: a busy program, a counselor, a lead, a phone."""
    with psycopg.connect(db_url()) as conn:
        slug, program_id = conn.execute(
            "SELECT g.slug, g.id FROM programs g JOIN leads l ON l.program_id = g.id "
            "GROUP BY g.id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        # A lead with three requests, among the recent ones: a full lead page.
        lead_id = conn.execute(
            "SELECT id FROM leads WHERE submission_count = 3 ORDER BY id DESC LIMIT 1"
        ).fetchone()[0]
        phone = conn.execute(
            "SELECT p.phone FROM prospects p WHERE p.phone LIKE '+1317%%' "
            "ORDER BY p.id DESC LIMIT 1"
        ).fetchone()[0]
        # A lead that a search for "maria gom" lists, to open from that search's results.
        found_id = conn.execute(
            "SELECT l.id FROM leads l JOIN prospects p ON p.id = l.prospect_id "
            "WHERE p.search_name LIKE ' maria gom%%' ORDER BY l.id DESC LIMIT 1"
        ).fetchone()[0]
        counselor_email = conn.execute(
            "SELECT email FROM staff_users WHERE id = %s", (info["counselors"][0],)
        ).fetchone()[0]
    return {
        "slug": slug,
        "program_id": program_id,
        "lead_id": lead_id,
        "found_id": found_id,
        "phone": us_phone(phone),
        "owner": info["counselors"][1],
        "counselor_email": counselor_email,
    }


def page_list(t: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(who, label, path) of every page timed: who is "manager" or "counselor"."""
    from urllib.parse import urlencode

    from leadform.vocab import LEAD_STATUSES

    def q(**params: Any) -> str:
        return "/staff/?" + urlencode(params)

    month_ago = (NOW - dt.timedelta(days=30)).date().isoformat()
    m, c = "manager", "counselor"
    return [
        (m, "baseline: GET /healthz", "/healthz"),
        (m, "queue /staff/ (default view)", "/staff/"),
        (m, "tab: open", q(status="open")),
        *((m, f"tab: {status}", q(status=status)) for status in LEAD_STATUSES),
        (m, "tab: unassigned", q(owner="none")),
        (m, "tab: overdue follow-ups", q(overdue="y")),
        (m, "sort: next follow-up", q(sort="follow_up")),
        (m, f"program filter ({t['slug']})", q(program=t["slug"])),
        (m, "program + owner", q(program=t["slug"], owner=t["owner"])),
        (
            m,
            "program + status (contacted) + owner",
            q(program=t["slug"], status="contacted", owner=t["owner"]),
        ),
        (
            m,
            "program + last 30 days + source google",
            q(program=t["slug"], received_from=month_ago, source="google"),
        ),
        (m, "unassigned + status new + program", q(owner="none", status="new", program=t["slug"])),
        (m, "search name 'maria gom'", q(q="maria gom")),
        (m, "search name 'maria gom' + tab contacted", q(q="maria gom", status="contacted")),
        (m, "search one name 'nguyen' (about 20,000 people)", q(q="nguyen")),
        (m, "search inside a name 'guyen'", q(q="guyen")),
        (m, "search first letters 'ma'", q(q="ma")),
        (m, "search email prefix 'maria.gomez1'", q(q="maria.gomez1")),
        (m, "search email 'maria.gomez1@'", q(q="maria.gomez1@")),
        (m, f"search phone '{t['phone']}'", q(q=t["phone"])),
        (m, "50 pages deep (page reached by the 50th after= link)", ""),
        (m, "lead page /staff/leads/<id>", f"/staff/leads/{t['lead_id']}"),
        (
            m,
            "lead page opened from search 'maria gom' (prev/next)",
            f"/staff/leads/{t['found_id']}?" + urlencode({"from": "q=maria gom"}),
        ),
        (m, "spam review /staff/spam (5,000 held)", "/staff/spam"),
        (m, "spam review: dismissed", "/staff/spam?view=reviewed"),
        (m, "delivery /staff/delivery (gave up, 60 days ago)", "/staff/delivery"),
        (m, "delivery: sent", "/staff/delivery?view=sent"),
        (c, "counselor: start view (own open leads)", "/staff/"),
        (c, "counselor: every lead they may see", q(owner="any")),
        (c, "counselor: search 'maria gom'", q(q="maria gom", owner="any")),
    ]


#: Warm-up requests per page: enough that every worker has likely served it once, so the
#: timed requests do not include a worker's first compile of that page's SQL statements.
PAGE_WARMUPS = 3 * HTTP_WORKERS


def measure_pages(
    info: dict[str, Any], runs: int, warmup: int = PAGE_WARMUPS
) -> list[dict[str, Any]]:
    """Whole staff pages over HTTP, as a manager and a counselor: wall clock of each
    request, p50 and p95."""
    import re

    import httpx

    t = page_targets(info)
    next_link = re.compile(r'href="([^"]*after=[^"]*)"[^>]*rel="next"')
    results = []
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(served())
        clients = {}
        for who, email in (
            ("manager", "manager0@bench.example.com"),
            ("counselor", t["counselor_email"]),
        ):
            client = stack.enter_context(httpx.Client(base_url=base, timeout=30))
            login = client.post("/staff/login", data={"email": email, "password": PASSWORD})
            assert login.status_code == 303, (who, login.status_code)
            clients[who] = client
        log(f"pages over HTTP: gunicorn, {HTTP_WORKERS} sync workers at {base}")
        url = "/staff/"
        for _ in range(50):
            found = next_link.search(clients["manager"].get(url).text)
            assert found, f"no next-page link at {url}"
            url = found.group(1).replace("&amp;", "&")
        for who, name, path in page_list(t):
            path = path or url
            client = clients[who]

            def get(i: int, path: str = path, client: httpx.Client = client) -> None:
                response = client.get(path)
                response.read()
                assert response.status_code == 200, (path, response.status_code)

            samples = timed(get, runs, warmup)
            size = len(client.get(path).content)
            results.append(
                {
                    "name": name,
                    "path": path,
                    "p50": statistics.median(samples),
                    "p95": percentile(samples, 0.95),
                    "kb": size / 1024,
                    "page": not name.startswith("baseline"),
                }
            )
            log(f"  {name}: p50 {results[-1]['p50']:.1f} ms, p95 {results[-1]['p95']:.1f} ms")
    return results


def bench_config() -> dict[str, Any]:
    """The app's configuration for the bench database."""
    return {
        "DATABASE_URL": db_url(),
        "SECRET_KEY": "bench-secret-key-0123456789-0123456789",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ARGON2_PROFILE": "CHEAPEST",
        "TESTING": False,
    }


def export_child(query: str) -> None:
    """In a fresh process: stream one export through the app, report rows, time and RSS."""
    from leadform import create_app

    def status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
        raise KeyError(key)

    app = create_app(bench_config())
    client = app.test_client()
    assert (
        client.post(
            "/staff/login", data={"email": "manager0@bench.example.com", "password": PASSWORD}
        ).status_code
        == 303
    )
    # Warm up (imports, templates, connection pool) with a tiny export, then reset the peak.
    warm = client.get("/staff/leads/export.csv?q=nobody-at-all")
    b"".join(warm.iter_encoded())
    warm.close()
    Path("/proc/self/clear_refs").write_text("5")
    before = status("VmRSS")
    t0 = time.perf_counter()
    response = client.get("/staff/leads/export.csv?" + query)
    assert response.is_streamed
    rows = -1  # the header line
    size = 0
    for chunk in response.iter_encoded():
        size += len(chunk)
        rows += chunk.count(b"\n")  # no cell here holds a newline
    response.close()
    seconds = time.perf_counter() - t0
    peak = status("VmHWM")
    print(
        json.dumps(
            {
                "rows": rows,
                "bytes": size,
                "seconds": seconds,
                "rss_before_mb": before / 1024,
                "growth_mb": (peak - before) / 1024,
            }
        )
    )


def measure_export(query: str) -> dict[str, Any]:
    """Run export_child in a new interpreter and return its report."""
    out = subprocess.run(
        [sys.executable, __file__, "--export-child", query],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env=dict(os.environ),
    )
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- main


def machine() -> str:
    """CPU, cores, memory, Python and PostgreSQL versions."""
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    with psycopg.connect(ADMIN_URL) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GB RAM; Python "
        f"{platform.python_version()}; PostgreSQL {pg}"
    )


def main() -> int:
    """Create, load, measure, report, drop."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--export-sample",
        type=int,
        default=100_000,
        help="rows in the smaller export (by received date)",
    )
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure an already loaded database")
    parser.add_argument("--time-limit", type=int, default=1800, help="seconds before giving up")
    parser.add_argument(
        "--page-runs", type=int, default=20, help="timed requests per page over HTTP"
    )
    parser.add_argument(
        "--pages-only",
        action="store_true",
        help="time only the pages over HTTP (no in-process queries, no export)",
    )
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_child is not None:
        export_child(args.export_child)
        return 0
    signal.alarm(args.time_limit)  # a bound on the whole run: never a runaway job

    def give_up(signum: int, frame: Any) -> None:
        # An exception, not the default kill: `finally` blocks stop gunicorn and drop the database.
        raise SystemExit(f"stopped by signal {signum} (--time-limit {args.time_limit} s?)")

    signal.signal(signal.SIGALRM, give_up)
    signal.signal(signal.SIGTERM, give_up)

    started = time.perf_counter()
    if not args.reuse:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(DB_NAME)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    try:
        from alembic import command

        from leadform.cli.migrate import alembic_config
        from leadform.core.programs import load_catalog, read_catalog

        if not args.reuse:
            command.upgrade(alembic_config(db_url()), "head")
            from leadform import create_app
            from leadform.context import get_session

            app = create_app(bench_config())
            with app.app_context():
                session = get_session()
                load_catalog(session, read_catalog())
                session.commit()
            t0 = time.perf_counter()
            with psycopg.connect(db_url()) as conn:
                info = load(conn, args.leads)
            load_seconds = time.perf_counter() - t0
            load_review_queues(conn := psycopg.connect(db_url()))
            conn.close()
            Path("/tmp/leadform_bench_dashboard.json").write_text(  # noqa: S108
                json.dumps({k: info[k] for k in ("counselors", "manager")})
            )
        else:
            info = json.loads(Path("/tmp/leadform_bench_dashboard.json").read_text())  # noqa: S108
            load_seconds = 0.0
            with psycopg.connect(db_url()) as conn:
                load_review_queues(conn)
        with psycopg.connect(db_url()) as conn:
            if args.reuse:
                info["emails"] = [
                    r[0]
                    for r in conn.execute(
                        "SELECT email_normalized FROM prospects TABLESAMPLE SYSTEM (1)"
                    )
                ]
                info["phones"] = [
                    r[0]
                    for r in conn.execute(
                        "SELECT phone FROM prospects TABLESAMPLE SYSTEM (1) WHERE phone IS NOT NULL"
                    )
                ]
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM prospects), "
                "(SELECT count(*) FROM submissions), pg_size_pretty(pg_database_size(%s))",
                (DB_NAME,),
            ).fetchone()
            sample_day = conn.execute(
                "SELECT last_submitted_at FROM leads ORDER BY last_submitted_at DESC "
                "OFFSET %s LIMIT 1",
                (args.export_sample - 1,),
            ).fetchone()[0]
        log(
            f"loaded {counts[0]:,} leads, {counts[1]:,} prospects, {counts[2]:,} submissions "
            f"({counts[3]}) in {load_seconds:.0f}s"
        )

        results = [] if args.pages_only else measure(info, args.runs, args.explain)
        pages = measure_pages(info, args.page_runs)
        if args.pages_only:
            print_pages(pages, args.page_runs)
            return 0 if all(r["p95"] <= PAGE_TARGET_MS for r in pages if r["page"]) else 1

        since = sample_day.date().isoformat()
        log(f"export since {since} (fresh process)")
        small = measure_export(f"received_from={since}")
        log(f"  {small}")
        log("export of every lead (fresh process)")
        full = measure_export("")
        log(f"  {full}")
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(DB_NAME)
                    )
                )

    baseline = next(r for r in results if r["name"].startswith("baseline: primary"))["p50"]
    print(f"\nMachine: {machine()}")
    print(f"Command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(
        f"Data: {counts[0]:,} leads, {counts[1]:,} prospects, {counts[2]:,} submissions, "
        f"database {counts[3]}; load (COPY + index builds + VACUUM ANALYZE) {load_seconds:.0f} s; "
        f"{args.runs} timed runs per query after 3 warm-up runs\n"
    )
    print("| query | p50 ms | p95 ms | p50 / PK lookup p50 | target p95 <= 50 ms |")
    print("| --- | ---: | ---: | ---: | --- |")
    ok = True
    for r in results:
        verdict = ""
        if r["query"]:
            met = r["p95"] <= 50
            ok &= met
            verdict = "met" if met else "MISSED"
        print(
            f"| {r['name']} | {r['p50']:.2f} | {r['p95']:.2f} | "
            f"{r['p50'] / baseline:.1f}x | {verdict} |"
        )
    print(
        "\n| export | rows | MB written | seconds | RSS before MB | peak RSS growth MB | "
        "target <= 50 MB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, e in ((f"received since {since}", small), ("every lead", full)):
        met = e["growth_mb"] <= 50
        ok &= met
        print(
            f"| {label} | {e['rows']:,} | {e['bytes'] / 1e6:.0f} | {e['seconds']:.1f} | "
            f"{e['rss_before_mb']:.0f} | {e['growth_mb']:.1f} | {'met' if met else 'MISSED'} |"
        )
    ok &= print_pages(pages, args.page_runs)
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


def print_pages(pages: list[dict[str, Any]], runs: int) -> bool:
    """The pages' table; True when every page met its target."""
    print(
        f"\nWhole staff pages over HTTP (gunicorn, {HTTP_WORKERS} sync workers; httpx "
        f"keep-alive client; {PAGE_WARMUPS} warm-ups, {runs} timed requests each)\n"
    )
    print(f"| page | p50 ms | p95 ms | KB | p95 <= {PAGE_TARGET_MS} ms |")
    print("| --- | ---: | ---: | ---: | --- |")
    ok = True
    for r in pages:
        verdict = ""
        if r["page"]:
            met = r["p95"] <= PAGE_TARGET_MS
            ok &= met
            verdict = "met" if met else "MISSED"
        print(f"| {r['name']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['kb']:.0f} | {verdict} |")
    return ok


if __name__ == "__main__":
    sys.exit(main())
