"""Two checkouts of LeadForm's submit path in one run, under the same conditions.

    flock /work/bench.lock .venv/bin/python bench/submit_ab.py --base ../other-checkout
        [--duration 16] [--rounds 4] [--workers 4] [--concurrency 8]

bench/submit.py compares LeadForm with the reference in one run, but two runs of it (before
and after a change) are minutes apart, and on a shared machine the load in between moves
every figure. This serves this checkout and `--base` (another checkout of the same schema,
e.g. a `git worktree` of main) side by side on one throwaway database, with the baseline
server's reference form, and drives the form and the JSON API of both and the reference in
interleaved turns (bench/submit.py's client and turn order). It prints submissions per
second, the ratio to the reference in the same run, and CPU milliseconds per submission.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import submit as bench  # noqa: E402 - the bench folder is not a package


@contextlib.contextmanager
def served_from(root: Path, env: dict[str, str], args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """LeadForm served by gunicorn from the checkout at `root` (its own code, same venv)."""
    here = bench.ROOT
    bench.ROOT = root  # bench.gunicorn starts gunicorn in ROOT: `wsgi:app` is that checkout's
    try:
        with bench.gunicorn(f"LeadForm {root.name}", "wsgi:app", env, args, []) as served:
            yield served
    finally:
        bench.ROOT = here


def main() -> int:
    """Serve both checkouts and the reference, drive them in turns, print the comparison."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--duration", type=float, default=16, help="measured seconds per side")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
    )
    args = parser.parse_args()
    args.concurrency = args.concurrency or 2 * args.workers
    args.max_submissions = 10**9
    args.repeat = 0.1
    this, base = bench.ROOT, args.base.resolve()

    with bench.throwaway_database(args.postgres) as url:
        print("machine: " + ", ".join(f"{k} {v}" for k, v in bench.machine(url).items()))
        env = bench.leadform_env(url)
        key, programs = bench.prepare(env, url)
        api = functools.partial(bench.api_submission, key=key)
        sides = [
            bench.Side(bench.Result(f"form, {this.name}"), bench.leadform_submission, database=url),
            bench.Side(bench.Result(f"form, {base.name}"), bench.leadform_submission, database=url),
            bench.Side(bench.Result("reference"), bench.leadform_submission, database=url),
            bench.Side(bench.Result(f"API, {this.name}"), api, database=url),
            bench.Side(bench.Result(f"API, {base.name}"), api, database=url),
        ]
        baseline_env = {
            **{k: v for k, v in env.items() if not k.startswith("LEADFORM_")},
            "BENCH_BASELINE_DATABASE_URL": url,
        }
        with (
            served_from(this, env, args) as (sides[0].port, sides[0].pid),
            served_from(base, env, args) as (sides[1].port, sides[1].pid),
            bench.gunicorn(
                "Baseline",
                "baseline_app:create_app()",
                baseline_env,
                args,
                ["--pythonpath", "bench"],
            ) as (sides[2].port, sides[2].pid),
        ):
            sides[3].port, sides[3].pid = sides[0].port, sides[0].pid
            sides[4].port, sides[4].pid = sides[1].port, sides[1].pid
            for side in sides:
                bench.run_phase(side, args.warmup, record=False, programs=programs, args=args)
            for turn in bench.turns(args.rounds, len(sides)):
                side = sides[turn]
                bench.run_phase(
                    side, args.duration / args.rounds, record=True, programs=programs, args=args
                )
        reference = sides[2].result.rate()
        print(
            f"\n{'side':<32} {'subm./s':>8} {'/ reference':>11} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'CPU ms server':>14} {'database':>9} {'client':>7} {'errors':>7}"
        )
        for side in sides:
            r = side.result
            series = r.series.get("submission", bench.Series("submission"))
            print(
                f"{r.label:<32} {r.rate():8.1f} {r.rate() / reference if reference else 0:11.2f}"
                f" {series.percentile(50):7.1f} {series.percentile(99):7.1f}"
                f" {r.cpu_ms('server'):14.2f} {r.cpu_ms('database'):9.2f}"
                f" {r.cpu_ms('client'):7.2f} {r.errors:7d}"
            )
    return 0 if not any(side.result.errors for side in sides) else 1


if __name__ == "__main__":
    sys.exit(main())
