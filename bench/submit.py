"""Benchmark LeadForm's full submit path against a bare INSERT, both under gunicorn on PostgreSQL.

    .venv/bin/python bench/submit.py [--duration 20] [--rounds 4] [--concurrency N] [--workers N]

One run, on a throwaway PostgreSQL database it creates and drops:
- The JSON API on the same LeadForm server: each simulated landing page POSTs the same fields
  as JSON to /api/v1/leads with an API key, the visitor's evidence and an Idempotency-Key
  (the path a careful caller takes), expecting 201 (new lead) or 200 (merged).
- LeadForm (production mode) under gunicorn: each simulated person GETs /request-info, takes
  the session cookie, CSRF token and form token from the page and POSTs the form back, as a
  browser does, stopping at the 303 (the thanks page is not fetched). Every person has a
  distinct email, except a fraction who come back (same email and program) to exercise dedupe.
- The baseline (bench/baseline_app.py) under gunicorn with the same settings: one POST of the
  same fields, one INSERT of a 23-text-column row, a 303.
The same Python client (threads, http.client) drives every side, in turns (LeadForm, baseline,
reference, reference, baseline, LeadForm, ...) so that a change in the machine's load hits all
sides alike. The
target compares whole submissions: LeadForm submissions (GET + POST) per second over baseline
INSERT requests per second, at least 0.5; and API requests per second over the same baseline
INSERT requests per second, at least 0.5. On Linux it also reports the CPU time per submission
of the gunicorn processes, of their PostgreSQL backends and of the load generator, a figure
that depends less on what else the machine is doing than throughput does.
A third side, the reference, is not a target: the baseline server's bare form (a fixed page,
then the same INSERT), driven by LeadForm's own client code. Its ratio to the baseline is
the most any Flask app serving a form page and storing one row reaches on this machine.
With --delivery, an outbox worker (`flask outbox work`) runs beside LeadForm, delivering to a
real SMTP server (aiosmtpd) and a webhook receiver in this process, and a fourth side runs:
LeadForm again, with the SMTP server and the receiver slow (--delivery-delay, 2 s a call)
during its turns and fast during the first LeadForm side's. A request never waits on SMTP
or a webhook, so its submissions/s and p99 must stay within 10% of the fast side's.
Exit status: 0 when the target is met, nothing failed and the stored rows add up (and, with
--delivery, the slow side is within 10% of the fast one); 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.client
import itertools
import json
import os
import platform
import random
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.5
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) leadform-bench/1"
_HIDDEN_INPUT = re.compile(r'<input[^>]*name="(csrf_token|form_token)"[^>]*value="([^"]*)"')

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_app import CREATE_TABLE  # noqa: E402 - the bench folder is not a package

# --------------------------------------------------------------------------- measurements


@dataclass
class Series:
    """Latencies (seconds) of one kind of operation, in completion order."""

    name: str
    latencies: list[float] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile in milliseconds (0 when empty)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        rank = max(1, round(p / 100 * len(ordered) + 0.5))
        return ordered[min(rank, len(ordered)) - 1] * 1000


@dataclass
class Result:
    """What one side of the benchmark measured (summed over its measured phases)."""

    label: str
    seconds: float = 0.0
    series: dict[str, Series] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process group
    warmup_ok: int = 0  # submissions completed (and stored) during warm-up
    warmup_errors: int = 0

    def count(self, name: str = "submission") -> int:
        """Completed operations of this kind."""
        return len(self.series[name].latencies) if name in self.series else 0

    def submissions(self) -> int:
        """Completed submissions in the measured phases."""
        return self.count("submission")

    def rate(self, name: str = "submission") -> float:
        """Completed operations per second."""
        return self.count(name) / self.seconds if self.seconds else 0.0

    def cpu_ms(self, group: str) -> float:
        """CPU milliseconds per submission of a process group: client, server or database."""
        if group == "database":
            total = sum(v for k, v in self.cpu.items() if k.startswith("db:"))
        else:
            total = self.cpu.get(group, 0.0)
        return total / self.submissions() * 1000 if self.submissions() else 0.0


class Stop(Exception):
    """The load generator hit an unexpected answer; counted as an error."""


# --------------------------------------------------------------------------- HTTP client


class Browser:
    """One simulated person: a cookie jar and a connection to one server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPResponse, bytes]:
        """Send one request; keep the cookies it sets; return status, response and body."""
        headers = {"User-Agent": USER_AGENT, "Accept": "text/html", **(headers or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()  # reconnects on the next request
            raise
        for header in response.headers.get_all("Set-Cookie") or ():
            name, _, value = header.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        if response.headers.get("Connection", "").lower() == "close":
            self.conn.close()
        return response.status, response, data

    def close(self) -> None:
        """Drop the connection."""
        self.conn.close()


def person_fields(email: str, program: str, rng: random.Random) -> dict[str, str]:
    """The visible fields a person fills in, valid for LeadForm."""
    return {
        "program": program,
        "first_name": rng.choice(("Maria", "José", "Aisha", "Wei", "Liam", "Zoë")),
        "last_name": rng.choice(("O'Neil-Gómez", "Nguyen", "Okafor", "Smith", "Dubois")),
        "email": email,
        "phone": f"(317) 555-{rng.randrange(100, 200):04d}",
        "country": "US",
        "postal_code": "46204",
        "start_term": "undecided",
        "education_level": "high_school",
        "military": "none",
        "comments": "Can I study part time while working? What does the program cost?",
        "consent": "y",
        "sms_opt_in": "y",
        "website": "",
    }


UTM = {
    "utm_source": "bench",
    "utm_medium": "cpc",
    "utm_campaign": "fall-open-house",
    "utm_term": "medical billing",
    "utm_content": "ad-1",
}


class People:
    """Who submits next: mostly new people, sometimes a returning one (same email, program)."""

    def __init__(self, tag: str, thread: int, programs: list[str], repeat: float) -> None:
        self.rng = random.Random(f"{tag}-{thread}")
        self.tag, self.thread, self.programs, self.repeat = tag, thread, programs, repeat
        self.seen: list[tuple[str, str]] = []
        self.counter = itertools.count()

    def next(self) -> tuple[str, str]:
        """An (email, program slug) pair."""
        if self.seen and self.rng.random() < self.repeat:
            return self.rng.choice(self.seen)
        person = (
            f"bench.{self.tag}.{self.thread}.{next(self.counter)}@example.com",
            self.rng.choice(self.programs),
        )
        self.seen.append(person)
        return person


def leadform_submission(browser: Browser, people: People) -> dict[str, float]:
    """GET the form, POST it back with its tokens; return the latency of each step.

    Also drives the reference (the baseline server's bare form), which answers alike.
    """
    email, program = people.next()
    browser.cookies.clear()  # each submission is a new visit
    query = urllib.parse.urlencode({"program": program, **UTM})
    page = f"/request-info?{query}"

    start = time.perf_counter()
    status, _, html = browser.request("GET", page)
    got = time.perf_counter()
    if status != 200:
        raise Stop(f"GET {page}: {status}")
    tokens = dict(_HIDDEN_INPUT.findall(html.decode("utf-8")))
    if set(tokens) != {"csrf_token", "form_token"}:
        raise Stop("GET /request-info: tokens not found in the page")

    body = urllib.parse.urlencode({**tokens, **UTM, **person_fields(email, program, people.rng)})
    referer = {"Referer": f"http://127.0.0.1:{browser.port}{page}"}
    status, response, data = browser.request("POST", "/request-info", body, referer)
    done = time.perf_counter()
    location = response.headers.get("Location", "")
    if status != 303 or not location.endswith("/request-info/thanks"):
        snippet = re.sub(r"\s+", " ", data.decode("utf-8", "replace"))[:200]
        raise Stop(f"POST /request-info: {status} {location} {snippet}")
    return {"GET form": got - start, "POST form": done - got, "submission": done - start}


def baseline_submission(browser: Browser, people: People) -> dict[str, float]:
    """POST the same fields to the baseline's INSERT view; return its latency."""
    email, program = people.next()
    fields = {
        "csrf_token": secrets.token_urlsafe(60),
        "form_token": secrets.token_urlsafe(60),
        **UTM,
        **person_fields(email, program, people.rng),
    }
    body = urllib.parse.urlencode(fields)
    referer = {"Referer": f"http://127.0.0.1:{browser.port}/request-info"}
    start = time.perf_counter()
    status, _, _ = browser.request("POST", "/submit", body, referer)
    done = time.perf_counter()
    if status != 303:
        raise Stop(f"POST /submit: {status}")
    return {"submission": done - start}


def api_submission(browser: Browser, people: People, *, key: str) -> dict[str, float]:
    """POST the same fields as JSON to /api/v1/leads, as a landing page's server would."""
    email, program = people.next()
    fields: dict[str, object] = {**UTM, **person_fields(email, program, people.rng)}
    fields.update(
        consent=True,
        sms_opt_in=True,
        ip="198.51.100.7",
        user_agent=USER_AGENT,
        page_url="https://landing.example.edu/billing",
        referrer="https://www.google.com/",
    )
    del fields["website"]
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Idempotency-Key": secrets.token_urlsafe(16),
    }
    body = json.dumps(fields)
    start = time.perf_counter()
    status, _, data = browser.request("POST", "/api/v1/leads", body, headers)
    done = time.perf_counter()
    if status not in (200, 201):
        raise Stop(f"POST /api/v1/leads: {status} {data[:200]!r}")
    return {"submission": done - start}


@dataclass
class Side:
    """One server under test: how to submit to it, where it listens, what it measured."""

    result: Result
    submit: Callable[[Browser, People], dict[str, float]]
    port: int = 0
    pid: int = 0  # the gunicorn master
    database: str = ""  # the database its connections use (for their CPU time)
    #: Called before each of its phases (the delivery run sets the servers' delay).
    before: Callable[[], None] = lambda: None


def run_phase(
    side: Side, seconds: float, *, record: bool, programs: list[str], args: argparse.Namespace
) -> None:
    """Drive one side with `concurrency` threads until the time or the submission budget ends."""
    result = side.result
    label = re.sub(r"[^a-z0-9]+", "-", result.label.lower())  # part of the emails
    tag = f"{os.getpid()}-{label}-{time.monotonic_ns()}"
    deadline = time.monotonic() + seconds
    budget = args.max_submissions - result.submissions()
    tickets = itertools.count()
    lock = threading.Lock()
    completed = [0]

    def worker(index: int) -> None:
        browser = Browser(side.port)
        people = People(tag, index, programs, args.repeat)
        local: dict[str, list[float]] = {}
        errors: list[str] = []
        done = 0
        while time.monotonic() < deadline and next(tickets) < budget:
            try:
                timings = side.submit(browser, people)
            except (Stop, OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            done += 1
            for name, value in timings.items():
                local.setdefault(name, []).append(value)
        browser.close()
        with lock:
            completed[0] += done
            if record:
                result.errors += len(errors)
                result.error_samples.extend(errors[: max(0, 5 - len(result.error_samples))])
                for name, values in local.items():
                    result.series.setdefault(name, Series(name)).latencies.extend(values)
            else:
                result.warmup_errors += len(errors)

    threads = [
        threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.concurrency)
    ]
    before = cpu_snapshot(side)
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    after = cpu_snapshot(side)
    if record:
        result.seconds += elapsed
        for key, value in after.items():
            result.cpu[key] = result.cpu.get(key, 0.0) + value - before.get(key, 0.0)
    else:
        result.warmup_ok += completed[0]


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """CPU seconds a process used, its reaped children included (0 when unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / _TICK


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_snapshot(side: Side) -> dict[str, float]:
    """CPU seconds so far of the load generator, the gunicorn processes and their DB backends.

    Only on Linux (/proc). The database figure counts the backends connected to the
    benchmark database at both ends of a phase, which is all of them once the pools are warm.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snapshot = {"client": usage.ru_utime + usage.ru_stime}
    if side.pid and Path("/proc").is_dir():
        snapshot["server"] = _proc_cpu(side.pid) + sum(
            _proc_cpu(child) for child in _children(side.pid)
        )
        with psycopg.connect(side.database, autocommit=True) as conn:
            pids = conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        snapshot.update({f"db:{pid}": _proc_cpu(pid) for (pid,) in pids})
    return snapshot


# --------------------------------------------------------------------------- servers and database


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    name: str, app: str, env: dict[str, str], args: argparse.Namespace, extra: list[str]
) -> Iterator[tuple[int, int]]:
    """Serve `app` with gunicorn on a free port until the block ends; yield port and pid."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(args.workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "60",
        "--log-level",
        "warning",
        *extra,
        app,
    ]
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_ready(process, port, log, name)
            yield port, process.pid
        finally:
            # Only the gunicorn master we started; it stops its own workers.
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: object, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    log.seek(0)  # type: ignore[attr-defined]
    output = log.read()[-3000:]  # type: ignore[attr-defined]
    raise SystemExit(f"{name} did not become ready on port {port}:\n{output}")


@contextlib.contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """Create an empty database on the server, yield its URL, drop it afterwards."""
    name = f"leadform_bench_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(drop)


def leadform_env(url: str) -> dict[str, str]:
    """The environment LeadForm is served with: production mode on `url`, this process's
    environment without its own LEADFORM_ settings, no rate limits, no time trap."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFORM_")}
    return {
        **base_env,
        "LEADFORM_ENV": "production",
        "LEADFORM_SECRET_KEY": secrets.token_urlsafe(48),
        "LEADFORM_DATABASE_URL": url,
        "LEADFORM_RATELIMIT_ENABLED": "false",
        "LEADFORM_MIN_FORM_SECONDS": "0",
        # Plain http on 127.0.0.1: a Secure cookie would not come back, and CSRF needs it.
        "LEADFORM_SESSION_COOKIE_SECURE": "false",
    }


def prepare(env: dict[str, str], url: str) -> tuple[str, list[str]]:
    """Migrate the throwaway database, load the catalog, create the baseline's table and an
    API key: (the key, the active programs' slugs)."""
    flask(env, "db", "upgrade")
    flask(env, "programs", "load")
    api_key = flask(env, "apikeys", "create", "bench").strip().splitlines()[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        programs = [
            row[0] for row in conn.execute("SELECT slug FROM programs WHERE active ORDER BY id")
        ]
        conn.execute(CREATE_TABLE)
    return api_key, programs


def flask(env: dict[str, str], *command: str) -> str:
    """Run a LeadForm CLI command in the repository, failing loudly; return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"flask {' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def machine(url: str) -> dict[str, str]:
    """What the figures were measured on."""
    with psycopg.connect(url) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
    model = ""
    if Path("/proc/cpuinfo").exists():
        found = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        model = found.group(1).strip() if found else ""
    import gunicorn as gunicorn_pkg

    return {
        "cores": str(os.cpu_count()),
        "cpu": model or platform.processor(),
        "memory": f"{int(mem.group(1)) / 1024 / 1024:.1f} GiB" if mem else "?",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": pg,
        "gunicorn": gunicorn_pkg.__version__,
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def store_counts(url: str) -> dict[str, int]:
    """Rows LeadForm and the baseline stored."""
    queries = {
        "submissions ok": "SELECT count(*) FROM submissions WHERE spam_verdict = 'ok'",
        "submissions quarantined": "SELECT count(*) FROM submissions WHERE spam_verdict <> 'ok'",
        "prospects": "SELECT count(*) FROM prospects",
        "leads": "SELECT count(*) FROM leads",
        "baseline rows": "SELECT count(*) FROM bench_submissions",
    }
    with psycopg.connect(url) as conn:
        return {k: conn.execute(q).fetchone()[0] for k, q in queries.items()}  # type: ignore[index]


# --------------------------------------------------------------------------- delivery

#: Standard Webhooks secret for the bench's receiver (it does not verify; the tests do).
BENCH_WEBHOOK_SECRET = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


@dataclass
class Delivery:
    """The mail server and webhook receiver the worker delivers to, and how slow they are."""

    delay: float = 0.0
    mails: int = 0
    hooks: int = 0
    smtp_port: int = 0
    hook_port: int = 0


@contextlib.contextmanager
def delivery_servers() -> Iterator[Delivery]:
    """A real SMTP server (aiosmtpd) and an HTTP receiver, each waiting `delay` per call."""
    import asyncio
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from aiosmtpd.controller import Controller

    state = Delivery()

    class Mail:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            await asyncio.sleep(state.delay)
            state.mails += 1
            return "250 OK"

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(state.delay)
            state.hooks += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    state.smtp_port = free_port()
    controller = Controller(Mail(), hostname="127.0.0.1", port=state.smtp_port)
    controller.start()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    receiver.daemon_threads = True
    state.hook_port = receiver.server_port
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        receiver.shutdown()
        receiver.server_close()
        controller.stop()


@contextlib.contextmanager
def outbox_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`flask --app wsgi outbox work` until the block ends (SIGTERM: it finishes its message)."""
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "outbox", "work"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def outbox_counts(url: str) -> dict[str, int]:
    """Outbox messages by kind and status, at the end."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT kind, status, count(*) FROM outbox_messages GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    return {f"{kind} {status}": n for kind, status, n in rows}


def delivery_report(fast: Result, slow: Result, delay: float) -> bool:
    """Print the slow-delivery side against the fast one; True when within 10%."""
    fast_p99 = fast.series.get("submission", Series("submission")).percentile(99)
    slow_p99 = slow.series.get("submission", Series("submission")).percentile(99)
    rate_ok = slow.rate() >= 0.9 * fast.rate()
    p99_ok = slow_p99 <= 1.1 * fast_p99
    print()
    print(
        f"DELIVERY  SMTP and webhook receiver fast vs slow ({delay:g} s a call), a worker running"
    )
    print(f"  {'':28} {'subm/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for result in (fast, slow):
        series = result.series.get("submission", Series("submission"))
        print(
            f"  {result.label:28} {result.rate():8.1f} {series.percentile(50):8.1f}"
            f" {series.percentile(99):8.1f}"
        )
    print(
        f"  slow / fast: submissions/s {slow.rate() / fast.rate() if fast.rate() else 0:.2f}"
        f" ({'PASS' if rate_ok else 'FAIL'}: >= 0.90), p99"
        f" {slow_p99 / fast_p99 if fast_p99 else 0:.2f} ({'PASS' if p99_ok else 'FAIL'}: <= 1.10)"
    )
    return rate_ok and p99_ok


# --------------------------------------------------------------------------- report


def report(lead: Result, base: Result, ref: Result, api: Result) -> tuple[float, bool]:
    """Print the table; return the target ratio and whether it passes."""
    rows = [
        ("LeadForm GET /request-info", lead, "GET form"),
        ("LeadForm POST /request-info (303)", lead, "POST form"),
        ("LeadForm submission = GET + POST", lead, "submission"),
        ("Baseline POST /submit (1 INSERT, 303)", base, "submission"),
        ("Reference GET fixed page + POST INSERT", ref, "submission"),
        ("API POST /api/v1/leads (201/200)", api, "submission"),
    ]
    print()
    header = f"{'':40} {'requests':>8} {'seconds':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
    print(header)
    print("-" * len(header))
    for title, result, name in rows:
        series = result.series.get(name, Series(name))
        print(
            f"{title:40} {result.count(name):8d} {result.seconds:8.1f} {result.rate(name):8.1f} "
            f"{series.percentile(50):8.1f} {series.percentile(99):8.1f}"
        )
    lead_http = lead.rate("GET form") + lead.rate("POST form")
    print(f"{'LeadForm HTTP requests (GET and POST)':40} {'':8} {'':8} {lead_http:8.1f}")
    base_rate, lead_rate = base.rate(), lead.rate()
    ratio = lead_rate / base_rate if base_rate else 0.0
    api_ratio = api.rate() / base_rate if base_rate else 0.0
    passed = ratio >= TARGET_RATIO and api_ratio >= TARGET_RATIO
    print()
    print(
        f"TARGET  LeadForm submissions/s / baseline INSERT requests/s = "
        f"{lead_rate:.1f} / {base_rate:.1f} = {ratio:.2f}  "
        f"(target >= {TARGET_RATIO}) {'PASS' if ratio >= TARGET_RATIO else 'FAIL'}"
    )
    print(
        f"TARGET  API POST /api/v1/leads per s / baseline INSERT requests/s = "
        f"{api.rate():.1f} / {base_rate:.1f} = {api_ratio:.2f}  "
        f"(target >= {TARGET_RATIO}) {'PASS' if api_ratio >= TARGET_RATIO else 'FAIL'}"
    )
    if base_rate:
        print(f"        (per HTTP request instead: {lead_http / base_rate:.2f})")
        print(
            f"REFERENCE bare Flask form (fixed page + 1 INSERT) submissions/s / baseline = "
            f"{ref.rate():.1f} / {base_rate:.1f} = {ref.rate() / base_rate:.2f}"
            "  (a bare Flask GET + POST, on this machine, in this run)"
        )
    if ref.rate():
        print(
            f"          LeadForm / reference = {lead_rate:.1f} / {ref.rate():.1f} = "
            f"{lead_rate / ref.rate():.2f}"
        )
    print()
    print(f"CPU ms per submission {'server':>8} {'database':>9} {'client':>8}")
    for result in (lead, base, ref, api):
        print(
            f"  {result.label:19} {result.cpu_ms('server'):8.2f} {result.cpu_ms('database'):9.2f}"
            f" {result.cpu_ms('client'):8.2f}"
        )
    for result in (lead, base, ref, api):
        print(
            f"{result.label}: errors {result.errors} (warm-up {result.warmup_errors}), "
            f"warm-up submissions {result.warmup_ok}"
        )
        for sample in result.error_samples:
            print(f"  error: {sample}")
    return ratio, passed


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="measured seconds per side")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="split each side's duration into this many phases, run LeadForm and the baseline"
        " in turns (A B C C B A ...) so a change in the machine's load hits all alike",
    )
    parser.add_argument("--warmup", type=float, default=5, help="unmeasured seconds per side")
    parser.add_argument(
        "--workers", type=int, default=2 * cores, help="gunicorn workers (default 2 x cores)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=None, help="client threads (default 2 x workers)"
    )
    parser.add_argument(
        "--max-submissions", type=int, default=200_000, help="submissions per side at most"
    )
    parser.add_argument(
        "--repeat", type=float, default=0.1, help="fraction of returning people (dedupe)"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server (a throwaway database is created and dropped there)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--delivery",
        action="store_true",
        help="run an outbox worker with a real SMTP server and webhook receiver, and a fourth"
        " side with them slow (--delivery-delay): submissions must not slow down",
    )
    parser.add_argument(
        "--delivery-delay", type=float, default=2.0, help="seconds the slow servers take a call"
    )
    args = parser.parse_args(argv)
    if args.concurrency is None:
        args.concurrency = 2 * args.workers
    args.rounds = max(1, args.rounds)
    return args


def turns(rounds: int, sides: int = 2) -> list[int]:
    """Which side runs each phase: 0 1 2 2 1 0 0 1 2 ... (each round reverses the last)."""
    order: list[int] = []
    for i in range(rounds):
        order += list(range(sides)) if i % 2 == 0 else list(reversed(range(sides)))
    return order


def main(argv: list[str] | None = None) -> int:
    """Run the four sides, print the comparison, clean up."""
    args = parse_args(argv)
    with throwaway_database(args.postgres) as url:
        info = machine(url)
        print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
        print(
            f"settings: gunicorn --workers {args.workers} --worker-class sync, "
            f"client threads {args.concurrency}, {args.duration:g} s measured per side in "
            f"{args.rounds} turns after {args.warmup:g} s warm-up, returning people "
            f"{args.repeat:.0%}",
            flush=True,
        )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("LEADFORM_")}
        env = leadform_env(url)
        if args.delivery:
            # Alerts' recipients are fixed when a lead is stored: the web app needs the address.
            env["LEADFORM_NOTIFY_EMAILS"] = "admissions@bench.example"
        api_key, programs = prepare(env, url)

        sides = [
            Side(Result("LeadForm"), leadform_submission, database=url),
            Side(Result("Baseline"), baseline_submission, database=url),
            Side(Result("Reference"), leadform_submission, database=url),
            Side(Result("API"), functools.partial(api_submission, key=api_key), database=url),
        ]
        baseline_env = {**base_env, "BENCH_BASELINE_DATABASE_URL": url}
        with contextlib.ExitStack() as stack:
            delivery: Delivery | None = None
            if args.delivery:
                delivery = stack.enter_context(delivery_servers())
                worker_env = {
                    **env,
                    "LEADFORM_SMTP_URL": f"smtp://127.0.0.1:{delivery.smtp_port}",
                    "LEADFORM_WEBHOOK_URL": f"http://127.0.0.1:{delivery.hook_port}/hook",
                    "LEADFORM_WEBHOOK_SECRET": BENCH_WEBHOOK_SECRET,
                    "LEADFORM_BASE_URL": "https://info.bench.example",
                }
                stack.enter_context(outbox_worker(worker_env))
                slow = Side(Result("LeadForm, slow delivery"), leadform_submission, database=url)
                sides.append(slow)

                def set_delay(seconds: float, state: Delivery = delivery) -> Callable[[], None]:
                    def apply() -> None:
                        state.delay = seconds

                    return apply

                sides[0].before = set_delay(0.0)
                slow.before = set_delay(args.delivery_delay)
            run_sides(sides, env, baseline_env, programs, args)
            if delivery is not None:
                print(
                    f"delivery: {delivery.mails} emails and {delivery.hooks} webhooks received "
                    "while the sides ran"
                )

        lead, base, ref, api = (side.result for side in sides[:4])
        ratio, passed = report(lead, base, ref, api)
        delivery_ok = True
        if args.delivery:
            delivery_ok = delivery_report(lead, sides[4].result, args.delivery_delay)
            print(
                "outbox at the end: " + ", ".join(f"{k} {v}" for k, v in outbox_counts(url).items())
            )
        counts = store_counts(url)
        # Everything LeadForm's server stored: the form sides and the API (not the baseline's
        # server: the baseline and the reference).
        accepted = sum(
            side.result.warmup_ok + side.result.submissions()
            for side in sides
            if side is not sides[1] and side is not sides[2]
        )
        base_accepted = sum(r.warmup_ok + r.submissions() for r in (base, ref))
        stored_ok = (
            counts["submissions ok"] == accepted
            and not counts["submissions quarantined"]
            and counts["baseline rows"] == base_accepted
        )
        print(
            "stored: "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
            + f" (LeadForm form and API accepted {accepted}, "
            + f"baseline and reference {base_accepted}: "
            + f"{'consistent' if stored_ok else 'MISMATCH'})"
        )
        if args.json:
            write_json(args, info, ratio, passed, counts, *(side.result for side in sides))
    results = [side.result for side in sides]
    ok = passed and stored_ok and delivery_ok and not any(r.errors for r in results)
    return 0 if ok else 1


def run_sides(
    sides: list[Side],
    env: dict[str, str],
    baseline_env: dict[str, str],
    programs: list[str],
    args: argparse.Namespace,
) -> None:
    """Serve LeadForm and the baseline under gunicorn and drive every side in turns."""
    with (
        gunicorn("LeadForm", "wsgi:app", env, args, []) as (sides[0].port, sides[0].pid),
        gunicorn(
            "Baseline",
            "baseline_app:create_app()",
            baseline_env,
            args,
            ["--pythonpath", "bench"],
        ) as (sides[1].port, sides[1].pid),
    ):
        # The reference is served by the baseline's server (its /request-info views).
        sides[2].port, sides[2].pid = sides[1].port, sides[1].pid
        for side in sides[3:]:  # the API and the slow-delivery side: LeadForm's server too
            side.port, side.pid = sides[0].port, sides[0].pid
        for side in sides:
            side.before()
            if args.warmup > 0:
                run_phase(side, args.warmup, record=False, programs=programs, args=args)
        for turn in turns(args.rounds, len(sides)):
            side = sides[turn]
            side.before()
            print(f"  {side.result.label} {args.duration / args.rounds:g} s", flush=True)
            run_phase(side, args.duration / args.rounds, record=True, programs=programs, args=args)


def write_json(
    args: argparse.Namespace,
    info: dict[str, str],
    ratio: float,
    passed: bool,
    counts: dict[str, int],
    *results: Result,
) -> None:
    """The figures as JSON, for comparing runs."""
    figures = {
        "machine": info,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "ratio": ratio,
        "api_ratio": (
            results[3].rate() / results[1].rate() if len(results) > 3 and results[1].rate() else 0.0
        ),
        "pass": passed,
        "stored": counts,
        "results": {
            r.label: {
                "seconds": r.seconds,
                "errors": r.errors,
                "cpu_ms_per_submission": {
                    group: r.cpu_ms(group) for group in ("server", "database", "client")
                },
                **{
                    name: {
                        "count": r.count(name),
                        "per_second": r.rate(name),
                        "p50_ms": series.percentile(50),
                        "p99_ms": series.percentile(99),
                    }
                    for name, series in r.series.items()
                },
            }
            for r in results
        },
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
