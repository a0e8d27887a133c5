"""Where a submission's CPU goes under gunicorn: py-spy on the workers while the bench drives load.

    flock /work/bench.lock .venv/bin/python bench/submit_profile.py [--side form|api]
        [--duration 12] [--workers 4] [--concurrency 8] [--rate 200] [--raw FILE]

Needs py-spy (`.venv/bin/pip install py-spy`; a dev tool, not a dependency). On a throwaway
PostgreSQL database (as bench/submit.py), it serves LeadForm with the benchmark's gunicorn
settings, warms up, then samples every worker with `py-spy record --subprocesses
--nonblocking` (idle samples left out, so the shares are of CPU time, not of waiting) while
bench/submit.py's own client drives the form (GET + POST) or the JSON API. It prints the
throughput of that phase, the share of the workers' samples spent in each stage of a request
(inclusive), and the functions with the most samples of their own.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import submit as bench  # noqa: E402 - the bench folder is not a package

#: Request stages, by a frame that marks them (function name, file fragment): a sample
#: counts for every stage whose frame is on its stack.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("whole request (Flask wsgi_app)", "wsgi_app", "flask/app.py"),
    ("  view functions (dispatch_request)", "dispatch_request", "flask/app.py"),
    ("    GET: blank form page", "_blank_form_page", "public/views.py"),
    ("    POST: _handle_post", "_handle_post", "public/views.py"),
    ("      fields read (read_sent)", "read_sent", "request_form/forms.py"),
    ("      form built (RequestInfoForm)", "__init__", "request_form/forms.py"),
    ("      CSRF check (validate_csrf)", "validate_csrf", "flask_wtf/csrf.py"),
    ("      receive step", "receive", "request_form/receive.py"),
    ("        submit use case", "submit", "intake/submit.py"),
    ("          parse_inquiry (validation)", "parse_inquiry", "intake/inquiry.py"),
    ("          record_submission (rows)", "record_submission", "intake/store.py"),
    ("        form token (read_form_token)", "read_form_token", "intake/tokens.py"),
    ("        commit", "commit", "orm/session.py"),
    ("    API: create_lead", "create_lead", "api/views.py"),
    ("  SQLAlchemy execute (any)", "execute", "orm/session.py"),
    ("  pool checkout (incl. pre-ping)", "_checkout", "pool/base.py"),
    ("  psycopg execute", "execute", "psycopg/cursor.py"),
    ("  before_request hooks", "preprocess_request", "flask/app.py"),
    ("  after_request hooks", "process_response", "flask/app.py"),
    ("    session save (cookie)", "save_session", "flask/sessions.py"),
    ("  session open (cookie)", "open_session", "flask/sessions.py"),
    (
        "  Flask-Limiter (own hooks, not the view it wraps)",
        "_check_request_limit",
        "flask_limiter/",
    ),
    ("  Jinja render_template", "render_template", "flask/templating.py"),
    ("  teardown (session close)", "do_teardown_appcontext", "flask/app.py"),
    ("gunicorn outside the app (parse, write)", "handle_request", "gunicorn/workers/sync.py"),
)

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:]*):?(?P<line>\d*)\)$")


def parse_raw(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """py-spy's raw output: one `frame;frame;... count` line per distinct stack."""
    stacks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        frames_text, _, count = line.rpartition(" ")
        frames = []
        for frame in frames_text.split(";"):
            match = _FRAME.match(frame.strip())
            if match:
                frames.append((match["func"], match["file"]))
            else:
                frames.append((frame.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def summarize(stacks: list[tuple[list[tuple[str, str]], int]], top: int) -> None:
    """Print stage shares (inclusive) and the functions with the most own samples."""
    worker_stacks = [(frames, n) for frames, n in stacks if any("gunicorn" in f for _, f in frames)]
    total = sum(n for _, n in worker_stacks) or 1
    print(f"\nworker samples: {total} (CPU only: idle samples left out)")
    print(f"{'stage (inclusive share of worker CPU samples)':<52} {'share':>7}")
    for label, func, fragment in STAGES:
        hits = sum(
            n
            for frames, n in worker_stacks
            if any(_is(name, func) and fragment in file for name, file in frames)
        )
        print(f"{label:<52} {100 * hits / total:6.1f}%")
    own: collections.Counter[str] = collections.Counter()
    by_package: collections.Counter[str] = collections.Counter()
    for frames, n in worker_stacks:
        name, file = frames[-1]
        own[f"{name} ({_short(file)})"] += n
        by_package[_package(file)] += n
    print(f"\n{'own samples by package':<52} {'share':>7}")
    for package, n in by_package.most_common(top):
        print(f"{package:<52} {100 * n / total:6.1f}%")
    print(f"\n{'own samples by function':<70} {'share':>7}")
    for name, n in own.most_common(top):
        print(f"{name[:70]:<70} {100 * n / total:6.1f}%")


def _is(name: str, func: str) -> bool:
    """py-spy names methods Class.method: match either way ("" matches any function)."""
    return not func or name == func or name.endswith("." + func)


def _short(file: str) -> str:
    marker = "site-packages/"
    if marker in file:
        return file.split(marker, 1)[1]
    return file.split("/wt-submit/", 1)[-1] if "/wt-submit/" in file else file


def _package(file: str) -> str:
    short = _short(file)
    if short.startswith("leadform/"):
        return "/".join(short.split("/")[:3])
    if "/" in short and not short.startswith("/"):
        return short.split("/", 1)[0]
    return "(stdlib / C) " + Path(short).name


def _user_sys(master: int) -> tuple[float, float]:
    """User and system CPU seconds of gunicorn's master and workers."""
    user = system = 0.0
    for pid in [master, *bench._children(master)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / bench._TICK
        system += int(fields[12]) / bench._TICK
    return user, system


def _inapp(folder: Path) -> dict[str, float]:
    """The in-app totals the workers wrote so far (bench/inapp_wsgi.py), summed."""
    totals: dict[str, float] = collections.Counter()
    for path in folder.glob("*.json"):
        with contextlib.suppress(ValueError, OSError):
            totals.update(json.loads(path.read_text()))
    return dict(totals)


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def main() -> int:
    """Serve, warm up, sample while driving load, summarize."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--side", choices=("form", "api"), default="form")
    parser.add_argument("--duration", type=float, default=12)
    parser.add_argument("--warmup", type=float, default=4)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--raw", type=Path, help="keep py-spy's raw stacks in this file")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--no-spy",
        action="store_true",
        help="no sampling: the workers' user and system CPU, and the share inside the app"
        " (bench/inapp_wsgi.py)",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
    )
    args = parser.parse_args()
    args.concurrency = args.concurrency or 2 * args.workers
    args.max_submissions = 10**9
    args.repeat = 0.1
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy not found: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2

    with bench.throwaway_database(args.postgres) as url:
        env = bench.leadform_env(url)
        key, programs = bench.prepare(env, url)
        if args.side == "form":
            side = bench.Side(bench.Result("form"), bench.leadform_submission, database=url)
        else:
            submit_api = lambda b, p: bench.api_submission(b, p, key=key)  # noqa: E731
            side = bench.Side(bench.Result("api"), submit_api, database=url)
        app, extra = "wsgi:app", []
        inapp = Path(tempfile.mkdtemp(prefix="leadform-inapp-"))
        if args.no_spy:
            app, extra = "inapp_wsgi:app", ["--pythonpath", str(Path(__file__).parent)]
            env["LEADFORM_INAPP_DIR"] = str(inapp)
        with bench.gunicorn("LeadForm", app, env, args, extra) as (side.port, side.pid):
            bench.run_phase(side, args.warmup, record=False, programs=programs, args=args)
            raw = args.raw or Path(tempfile.mkstemp(suffix=".txt")[1])
            if args.no_spy:
                before, inside = _user_sys(side.pid), _inapp(inapp)
                bench.run_phase(side, args.duration, record=True, programs=programs, args=args)
                time.sleep(0.5)  # the workers' last totals
                after, inside = _user_sys(side.pid), _delta(_inapp(inapp), inside)
                n = side.result.submissions() or 1
                per = {k: 1000 * v / max(1, inside.get(k.split()[0], 0)) for k, v in inside.items()}
                print(
                    f"{args.side}: {side.result.rate():.1f}/s; gunicorn CPU ms per submission: "
                    f"user {1000 * (after[0] - before[0]) / n:.2f}, "
                    f"system {1000 * (after[1] - before[1]) / n:.2f}; "
                    f"database {side.result.cpu_ms('database'):.2f}\n"
                    f"inside the app, CPU ms per request: GET {per.get('GET cpu', 0):.2f}, "
                    f"POST {per.get('POST cpu', 0):.2f} (over the requests whose totals the "
                    "workers had written out)"
                )
                return 0
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(side.pid),
                    "--subprocesses",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--rate",
                    str(args.rate),
                    "--duration",
                    str(int(args.duration)),
                    "--output",
                    str(raw),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)  # py-spy attaches
            bench.run_phase(side, args.duration, record=True, programs=programs, args=args)
            spy.wait(timeout=60)
        result = side.result
        print(
            f"{args.side}: {result.submissions()} in {result.seconds:.1f} s = "
            f"{result.rate():.1f}/s while sampled (py-spy costs CPU too), errors {result.errors};"
            f" CPU ms per submission: server {result.cpu_ms('server'):.2f}, "
            f"database {result.cpu_ms('database'):.2f}"
        )
        summarize(parse_raw(raw), args.top)
        if args.raw is None:
            raw.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
