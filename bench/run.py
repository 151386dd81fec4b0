#!/usr/bin/env python
"""LeadCRM's benchmark suite (issue 9): `python3 dev.py bench [--scale 0.01] [--reseed] ...`.

One command: seeds (or reuses) 1,000,000 leads and 10,000,000 events, runs the app as in production
(gunicorn with DEBUG=0, a real Celery worker, PostgreSQL, Redis), drives it from separate processes
(wrk, producer processes, this process as an HTTP client) and prints every figure next to its
baseline measured in the same run and its target from the issue; then writes BENCHMARKS.md.

Services: BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/leadcrm_bench; created if
missing; its leads and events are the bench's to replace) and BENCH_REDIS_URL (default
redis://127.0.0.1:6379/0, emptied with FLUSHDB at the start). DATABASE_URL and REDIS_URL are NOT
read: a developer's own database is never the bench's by accident.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import sys
import time
import traceback
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

# Run as a script (bench/run.py): the repository root, not bench/, is where packages are found.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import suite
from bench.harness import Server
from bench.report import ROOT, STARTED, Run, machine, say, step, write_report

RESULTS = ROOT / "bench" / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/leadcrm_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


# --- Before Django: what is missing ----------------------------------------------------------


def missing_services(database_url: str, redis_url: str) -> list[str]:
    """Everything the run needs and does not find, each with how to get it (nothing is installed)."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk, the HTTP load generator: apt-get install wrk (Debian/Ubuntu) or brew install wrk")
    for tool in ("gunicorn", "celery"):
        if not (Path(sys.executable).parent / tool).exists():
            missing.append(f"{tool} in {Path(sys.executable).parent}: python3 dev.py setup")
    try:
        import psycopg

        url = urllib.parse.urlsplit(database_url)
        name = urllib.parse.unquote(url.path.lstrip("/"))
        maintenance = urllib.parse.urlunsplit(("postgresql", url.netloc, "/postgres", url.query, ""))
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=3) as connection:
            if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
                from psycopg import sql

                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                say(f"Created PostgreSQL database {name}")
    except Exception as error:
        missing.append(
            f"PostgreSQL at {database_url} ({str(error).strip().splitlines()[0]}): start it, or set BENCH_DATABASE_URL"
        )
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as error:
        missing.append(f"Redis at {redis_url} ({error}): start it, or set BENCH_REDIS_URL")
    return missing


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dev.py bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 1,000,000 leads, 10,000,000 events")
    parser.add_argument("--reseed", action="store_true", help="seed again even if the database holds the seed")
    parser.add_argument("--duration", type=int, default=30, help="seconds of each wrk measurement (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk warm-up before each (default 5)")
    parser.add_argument(
        "--web-workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn sync workers (default 2 x cores + 1, as leadcrm/gunicorn.conf.py deploys)",
    )
    parser.add_argument("--connections", type=int, default=32, help="wrk connections, submissions (default 32)")
    parser.add_argument("--batch-connections", type=int, default=4, help="wrk connections, event batches")
    parser.add_argument("--latency-seconds", type=int, default=30, help="steady-load time of the scoring latency")
    parser.add_argument("--rate", type=int, default=1000, help="events/s of the scoring latency load")
    parser.add_argument("--scoring-share", type=float, default=0.05, help="share of the leads rescored (throughput)")
    parser.add_argument("--list-runs", type=int, default=40, help="timed requests per list case")
    parser.add_argument("--deep-page", type=int, default=1000, help="the deep page of the list cases")
    parser.add_argument(
        "--output",
        type=Path,
        help="report file (default: BENCHMARKS.md for a full run at scale 1, else bench/results/)",
    )
    parser.add_argument("--seed-only", action="store_true", help="seed (or check the seed) and stop")
    parser.add_argument("--skip", action="append", default=[], choices=list(suite.BENCHMARKS), help="leave one out")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be above 0 and at most 10")
    if args.output is None:
        # BENCHMARKS.md holds full runs only: a smaller or partial run writes beside the JSON.
        full = args.scale == 1 and not args.skip
        args.output = ROOT / "BENCHMARKS.md" if full else RESULTS / f"benchmarks-scale-{args.scale:g}.md"
    return args


# --- Main ------------------------------------------------------------------------------------


def interrupt(signum, frame) -> None:
    """SIGTERM stops the run as Ctrl-C does: the servers it started are stopped on the way out."""
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    missing = missing_services(database_url, redis_url)
    if missing:
        print(
            "The benchmark suite cannot run; missing:\n" + "\n".join(f"  - {item}" for item in missing), file=sys.stderr
        )
        return 2
    # Production mode, as deployed behind a TLS proxy (no redirect to https on plain HTTP here).
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY="bench-" + secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        # The per-key limiter runs (it is on the hot path) but must not be what is measured.
        API_RATE_LIMIT="100000000/minute",
        LEADCRM_VAR_DIR=str(ROOT / "var" / "bench"),
        DJANGO_SETTINGS_MODULE="leadcrm.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from bench import seed

    run = Run(args=args)
    started_at = datetime.now(UTC)
    load_start = os.getloadavg()
    run.machine = machine()
    say(
        f"LeadCRM benchmarks at scale {args.scale:g} on {run.machine['cores']} cores ({run.machine['cpu']}), "
        f"load average {load_start[0]:.2f}; database {database_url}, Redis {redis_url}"
    )
    log_dir = ROOT / "var" / "bench" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with step(run, "migrate and collect static files"):
        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
    with step(run, "seed (or reuse the seed)"):
        seed_info = seed.seed_or_reuse(scale=args.scale, reseed=args.reseed, say=say)
    if args.seed_only:
        say(f"Seed ready in {time.monotonic() - STARTED:.0f}s (--seed-only: no benchmark run)")
        return 0
    keys = suite.api_keys()
    session_cookie = suite.marketer_session()
    server = Server(args, log_dir)
    interrupted = False
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with step(run, f"start gunicorn ({args.web_workers} workers) and a Celery worker; flush Redis DB"):
            server.start()
        plan = [
            (
                "submissions",
                "single form submissions vs the bare one-row view",
                lambda: suite.bench_submissions(run, server, keys),
            ),
            ("events", "event batches vs COPY", lambda: suite.bench_events(run, server, keys)),
            ("scoring", "scoring throughput and latency", lambda: suite.bench_scoring(run, server, seed_info)),
            ("lists", "MQL list and GET /api/v1/leads/", lambda: suite.bench_lists(run, server, keys, session_cookie)),
            ("export", "CSV export", lambda: suite.bench_export(run, server, session_cookie)),
        ]
        for key, label, benchmark in plan:
            if key in args.skip:
                continue
            with step(run, label):
                try:
                    benchmark()
                except Exception as error:  # one benchmark's failure must not cost the others
                    traceback.print_exc()
                    say(f"    FAILED: {error}")
                    run.notes.append(f"- {label}: failed ({type(error).__name__}: {error}); logs in {log_dir}.")
        with step(run, "memory"):
            suite.bench_memory(run, server)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    if interrupted:
        say("Interrupted: the servers are stopped, no report written")
        return 130
    total = time.monotonic() - STARTED
    write_report(run, args.output, seed_info, load_start, os.getloadavg(), started_at, total)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{started_at:%Y%m%dT%H%M%S}-scale-{args.scale:g}.json").write_text(
        json.dumps(
            {
                "machine": run.machine,
                "scale": args.scale,
                "steps": run.steps,
                "figures": [figure.__dict__ for figure in run.figures],
            },
            indent=1,
            default=str,
        )
    )
    missed = [figure for figure in run.figures if figure.met is False]
    say(f"Done in {total / 60:.1f} minutes: {len(missed)} target(s) missed; report written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
