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
import contextlib
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WRK_SCRIPTS = BENCH / "api"
RESULTS = BENCH / "results"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/leadcrm_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


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
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections, submissions (default 32)")
    parser.add_argument("--batch-connections", type=int, default=4, help="wrk connections, event batches")
    parser.add_argument("--latency-seconds", type=int, default=30, help="steady-load time of the scoring latency")
    parser.add_argument("--rate", type=int, default=1000, help="events/s of the scoring latency load")
    parser.add_argument("--scoring-share", type=float, default=0.1, help="share of the leads rescored (throughput)")
    parser.add_argument("--list-runs", type=int, default=40, help="timed requests per list case")
    parser.add_argument("--deep-page", type=int, default=1000, help="the deep page of the list cases")
    parser.add_argument(
        "--output",
        type=Path,
        help="report file (default: BENCHMARKS.md at scale 1, else bench/results/benchmarks-scale-<scale>.md)",
    )
    parser.add_argument("--skip", action="append", default=[], choices=list(BENCHMARKS), help="leave one out")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 10:
        parser.error("--scale must be above 0 and at most 10")
    if args.output is None:
        args.output = ROOT / "BENCHMARKS.md" if args.scale == 1 else RESULTS / f"benchmarks-scale-{args.scale:g}.md"
    return args


# --- Results ---------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    baseline: str = ""
    target: str = ""
    met: bool | None = None  # None: no target
    note: str = ""

    def formatted(self) -> str:
        if self.value is None:
            return "n/a"
        if self.unit in {"ms", "s", "MB", "%"}:
            text = f"{self.value:,.1f}" if abs(self.value) < 100 else f"{self.value:,.0f}"
        else:
            text = f"{self.value:,.0f}"
        return f"{text} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


@dataclass
class Run:
    args: argparse.Namespace
    figures: list[Figure] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict = field(default_factory=dict)

    def add(self, section: str, name: str, value, unit: str, **extra) -> Figure:
        figure = Figure(section, name, value, unit, **extra)
        self.figures.append(figure)
        line = f"  {name}: {figure.formatted()}"
        if figure.baseline:
            line += f"  | baseline: {figure.baseline}"
        if figure.target:
            line += f"  | target: {figure.target} -> {figure.verdict or 'no verdict'}"
        if figure.note:
            line += f"  ({figure.note})"
        print(line, flush=True)
        return figure


class step:
    """`with step(run, label):` prints the label, then how long the step took, and records it."""

    def __init__(self, run: Run, label: str):
        self.run, self.label = run, label

    def __enter__(self):
        self.started = time.monotonic()
        say(f"==> {self.label}")
        return self

    def __exit__(self, *exc):
        elapsed = time.monotonic() - self.started
        self.run.steps.append((self.label, elapsed))
        say(f"    {self.label}: {elapsed:.1f}s" + (" (failed)" if exc[0] else ""))
        return False


# --- Processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """Stop a process we started, and its children (it leads its own session)."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def proc_status(pid: int, key: str) -> float:
    """A VmRSS/VmHWM-style line of /proc/<pid>/status, in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_ms(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, in ms."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) * 1000 / ticks
        except (OSError, IndexError, ValueError):
            pass
    return used


class Server:
    """gunicorn (bench.settings: the app's settings + server timing + /baseline/) and one Celery
    worker process, as deployed; both lead their own sessions so that stopping them stops all."""

    def __init__(self, args: argparse.Namespace, log_dir: Path):
        self.args, self.log_dir = args, log_dir
        self.port = free_port()
        self.gunicorn: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def start(self) -> None:
        from bench import scoring_bench

        # A fresh Redis database: no task or nudge key of an earlier run is part of this one.
        self.worker = scoring_bench.start_worker(self.log_dir / "worker.log", flush=True)
        log = (self.log_dir / "gunicorn.log").open("wb")
        self.gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "leadcrm.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.args.web_workers),
                "--backlog",
                "2048",
                # The export of 100,000 rows streams for longer than gunicorn's default 30 s timeout
                # may allow on a loaded machine; the time it takes is reported, not cut short.
                "--timeout",
                "120",
                "--access-logfile",
                "/dev/null",
            ],
            cwd=ROOT,
            env=dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.gunicorn.poll() is not None:
                raise SystemExit(f"gunicorn did not start:\n{(self.log_dir / 'gunicorn.log').read_text()[-3000:]}")
            try:
                status, _, _ = http_get(self.port, "/api/v1/pipeline/")
                if status and len(self.web_pids()) == self.args.web_workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def web_pids(self) -> list[int]:
        return children(self.gunicorn.pid) if self.gunicorn else []

    def database_pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
            return [row[0] for row in cursor.fetchall()]

    def server_pids(self) -> list[int]:
        """The processes whose CPU is the server's: web workers, the Celery worker, and the
        PostgreSQL backends serving them (not this process's own connection)."""
        return self.web_pids() + ([self.worker.pid] if self.worker else []) + self.database_pids()

    def stop(self) -> None:
        stop_group(self.gunicorn)
        stop_group(self.worker)


# --- HTTP ------------------------------------------------------------------------------------


def http_get(
    port: int, path: str, headers: dict | None = None, *, stream: Callable[[bytes], None] | None = None
) -> tuple[int, dict, bytes]:
    """One GET on a new connection (gunicorn's sync workers close after each response)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        if stream is None:
            body = response.read()
        else:
            body = b""
            while chunk := response.read(65536):
                stream(chunk)
        return response.status, {key.lower(): value for key, value in response.getheaders()}, body
    finally:
        connection.close()


def server_ms(headers: dict) -> float:
    match = re.search(r"app;dur=([0-9.]+)", headers.get("server-timing", ""))
    return float(match.group(1)) if match else float("nan")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


# --- wrk -------------------------------------------------------------------------------------


def wrk(script: str, url: str, *, connections: int, seconds: int, env: dict, timeout: str = "10s") -> dict:
    """Run wrk with one of bench/api's Lua scripts; its RESULT line as a dict."""
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        timeout,
        "--latency",
        "-s",
        str(WRK_SCRIPTS / script),
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **env), check=False)
    line = next((line for line in completed.stdout.splitlines() if line.startswith("RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({completed.returncode}): {completed.stdout[-2000:]} {completed.stderr[-2000:]}"
        )
    result = {}
    for pair in line.split()[1:]:
        key, _, value = pair.partition("=")
        try:
            result[key] = float(value)
        except ValueError:
            result[key] = value
    return result


def measured_wrk(server: Server, script: str, *, connections: int, args, env: dict, timeout: str = "10s") -> dict:
    """Warm up, then measure; adds the server's CPU per request (workers + worker + backends)."""
    url = f"http://127.0.0.1:{server.port}"
    wrk(script, url, connections=connections, seconds=args.warmup, env=env, timeout=timeout)
    pids = server.server_pids()
    before = cpu_ms(pids)
    result = wrk(script, url, connections=connections, seconds=args.duration, env=env, timeout=timeout)
    after = cpu_ms(pids + [pid for pid in server.server_pids() if pid not in pids])
    used = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    result["server_cpu_ms_per_request"] = used / max(1, result["requests"])
    result["errors"] = sum(
        int(result.get(key, 0)) for key in ("non_2xx", "connect_errors", "read_errors", "write_errors", "timeouts")
    )
    return result


# --- The benchmarks --------------------------------------------------------------------------


def bench_submissions(run: Run, server: Server, keys: dict) -> None:
    env = {"API_KEY": keys["submit"], "RUN_ID": str(int(time.time()))}
    c = run.args.connections
    baseline = measured_wrk(server, "baseline.lua", connections=c, args=run.args, env=env)
    result = measured_wrk(server, "submission.lua", connections=c, args=run.args, env=env)
    ratio = 100 * result["req_per_s"] / baseline["req_per_s"]
    section = f"Single form submissions (POST /api/v1/submissions/, {c} connections, {run.args.duration} s)"
    base = (
        f"bare one-row view {baseline['req_per_s']:,.0f} req/s, p50 {baseline['p50_ms']:.1f} ms, "
        f"p99 {baseline['p99_ms']:.1f} ms, {baseline['errors']:.0f} errors, "
        f"{baseline['server_cpu_ms_per_request']:.2f} server CPU ms/req"
    )
    run.add(
        section,
        "requests/s",
        result["req_per_s"],
        "req/s",
        baseline=base,
        target=">= 1,000",
        met=result["req_per_s"] >= 1000,
    )
    run.add(section, "share of the baseline", ratio, "%", target=">= 50%", met=ratio >= 50)
    run.add(section, "p50 latency", result["p50_ms"], "ms")
    run.add(section, "p99 latency", result["p99_ms"], "ms", target="< 100 ms", met=result["p99_ms"] < 100)
    run.add(
        section,
        "errors",
        result["errors"],
        "",
        target="0",
        met=result["errors"] == 0,
        note=f"{result['requests']:,.0f} requests",
    )
    run.add(
        section,
        "server CPU per request",
        result["server_cpu_ms_per_request"],
        "ms",
        note="gunicorn workers + Celery worker + their PostgreSQL backends: what the neighbours do not change",
    )


def copy_baseline(rows: int) -> float:
    """COPY `rows` events shaped like bench/api/events.lua's into the same table, in one
    transaction on one connection: events/s of the COPY alone (the rows are rendered first)."""
    from django.db import connection, transaction

    from leads.models import EngagementEvent, Lead

    lead_ids = list(
        Lead.objects.filter(email__endswith="@bench.example", email__startswith="e").values_list("id", flat=True)[
            :20000
        ]
    )
    if not lead_ids:
        lead_ids = list(Lead.objects.values_list("id", flat=True)[:20000])
    types = ["page_view", "email_open", "email_click", "pricing_page_view", "feature_used", "content_download"]
    run_id = int(time.time())
    lines = []
    for n in range(rows):
        i = n % 1000 + 1
        lines.append(
            f"{lead_ids[(n * 7919) % len(lead_ids)]}\t{types[(i % len(types))]}\t2026-01-{i % 28 + 1:02d} "
            f'10:{i % 60:02d}:00+00\t{{"path":"/docs/{i % 50}","n":{i}}}\tcopy\tcopy-{run_id}-{n}\t'
            f"2026-01-{i % 28 + 1:02d} 10:{i % 60:02d}:01+00\n"
        )
    data = "".join(lines).encode()
    table = EngagementEvent._meta.db_table
    started = time.perf_counter()
    columns = "lead_id, event_type, occurred_at, properties, source, external_id, received_at"
    with (
        transaction.atomic(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        copy.write(data)
    return rows / (time.perf_counter() - started)


def bench_events(run: Run, server: Server, keys: dict) -> None:
    env = {"API_KEY": keys["submit"], "RUN_ID": str(int(time.time())), "BATCH": "1000"}
    result = measured_wrk(
        server, "events.lua", connections=run.args.batch_connections, args=run.args, env=env, timeout="30s"
    )
    accepted = int(result["requests"]) * 1000
    rows = max(10_000, min(accepted, 500_000))
    copy_rate = copy_baseline(rows)
    ratio = 100 * result["events_per_s"] / copy_rate
    section = (
        f"Event batches of 1,000 (POST /api/v1/events/, {run.args.batch_connections} connections, "
        f"{run.args.duration} s)"
    )
    run.add(
        section,
        "events/s",
        result["events_per_s"],
        "events/s",
        baseline=f"COPY of {rows:,} such rows into the same table: {copy_rate:,.0f} events/s",
        target=">= 50,000",
        met=result["events_per_s"] >= 50000,
    )
    run.add(section, "share of the COPY baseline", ratio, "%", target=">= 40%", met=ratio >= 40)
    run.add(section, "p50 / p99 per batch", result["p50_ms"], "ms", note=f"p99 {result['p99_ms']:.0f} ms")
    run.add(
        section,
        "errors",
        result["errors"],
        "",
        target="0",
        met=result["errors"] == 0,
        note=f"{result['requests']:,.0f} batches",
    )
    run.add(section, "server CPU per batch", result["server_cpu_ms_per_request"], "ms")


def wait_for_scoring(timeout: float = 600) -> float:
    """Let the worker score what the earlier runs left stale; seconds waited."""
    from bench.scoring_bench import stale_count

    started = time.monotonic()
    while stale_count() and time.monotonic() - started < timeout:
        time.sleep(0.2)
    return time.monotonic() - started


def bench_scoring(run: Run, server: Server, seed_info) -> None:
    from django.db import connection
    from django.utils import timezone

    from bench.scoring_bench import measure_latency, rss_mb, time_drain

    waited = wait_for_scoring()
    say(f"    the worker scored the earlier runs' leads ({waited:.0f}s)")
    section = "Scoring (one Celery worker process, solo pool)"
    # Throughput: mark a share of the seeded leads stale (as a rule change would) and time one
    # worker draining them; their events are what it reads and sums.
    modulus = max(1, round(1 / run.args.scoring_share))
    share = [seed_info.max_lead_id, modulus, 7 % modulus]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM leads_engagementevent WHERE lead_id <= %s AND mod(lead_id, %s) = %s", share
        )
        events = cursor.fetchone()[0]
        cursor.execute(
            "UPDATE leads_lead SET score_stale = true, score_stale_since = %s WHERE id <= %s AND mod(id, %s) = %s",
            [timezone.now(), *share],
        )
        leads = cursor.rowcount
    seconds, done = time_drain(timeout=300)
    if not done:
        from bench.scoring_bench import stale_count

        left = stale_count()
        events = round(events * (leads - left) / leads)
        leads -= left
    rate = events / seconds
    run.add(
        section,
        "events scored per second",
        rate,
        "events/s",
        target=">= 20,000",
        met=rate >= 20000,
        note=f"{leads:,} leads with {events:,} events in {seconds:.1f} s"
        + ("" if done else "; stopped at the 300 s limit"),
    )
    run.add(section, "leads scored per second", leads / seconds, "leads/s")
    wait_for_scoring()

    # Latency: a steady load through the app's own path (store, mark, nudge on commit).
    lead_ids = list(range(1, seed_info.max_lead_id + 1))
    result = measure_latency(lead_ids, rate=run.args.rate, seconds=run.args.latency_seconds, producers=4, per_call=5)
    rate_sent = result.sent / result.seconds
    # The producers are Python processes on the same cores: on a busy machine they may not reach
    # the rate, and a latency at a lower rate does not answer the target.
    at_rate = rate_sent >= 0.9 * run.args.rate
    note = (
        f"{result.sent:,} events in {result.seconds:.0f} s ({rate_sent:,.0f}/s) on random leads of "
        f"{len(lead_ids):,}; {result.observed:,} lead updates seen, {result.never} never"
        + ("" if at_rate else "; the producers did not reach the rate: no verdict")
    )
    run.add(section, f"event -> new score p50 at {run.args.rate:,} events/s", result.pct(0.5), "ms", note=note)
    run.add(
        section,
        f"event -> new score p95 at {run.args.rate:,} events/s",
        result.pct(0.95),
        "ms",
        target="<= 2,000 ms",
        met=(result.pct(0.95) <= 2000 and result.never == 0) if at_rate else None,
    )
    run.add(section, "worker resident size after scoring", rss_mb(server.worker.pid), "MB")


def walk(port: int, first: str, pages: int, headers: dict, next_of: Callable[[bytes], str | None]) -> tuple[str, int]:
    """Follow the next-page links from `first` to page `pages` (or the last page): (path, page)."""
    path, page = first, 1
    while page < pages:
        status, _, body = http_get(port, path, headers)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}")
        following = next_of(body)
        if not following:
            break
        path, page = following, page + 1
    return path, page


def mql_next(body: bytes) -> str | None:
    match = re.search(rb'href="([^"]*)" rel="next"', body)
    return "/marketing/mqls/" + match.group(1).decode().replace("&amp;", "&") if match else None


def api_next(body: bytes) -> str | None:
    following = json.loads(body).get("next")
    if not following:
        return None
    parts = urllib.parse.urlsplit(following)
    return f"{parts.path}?{parts.query}"


def time_page(port: int, path: str, headers: dict, runs: int) -> dict:
    http_get(port, path, headers)  # warm
    server, client, queries, rows = [], [], set(), 0
    for _ in range(runs):
        started = time.perf_counter()
        status, response_headers, body = http_get(port, path, headers)
        client.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{path}: HTTP {status}: {body[:300]!r}")
        server.append(server_ms(response_headers))
        queries.add(int(response_headers.get("x-bench-queries", -1)))
    rows = body.count(b"<tr data-lead=") if path.startswith("/marketing") else len(json.loads(body)["results"])
    return {
        "p50": statistics.median(server),
        "p95": percentile(server, 0.95),
        "client_p50": statistics.median(client),
        "queries": sorted(queries),
        "rows": rows,
    }


def bench_lists(run: Run, server: Server, keys: dict, session_cookie: str) -> None:
    from leads.models import Lead

    wait_for_scoring()
    port, runs = server.port, run.args.list_runs
    total = Lead.objects.count()
    browser = {"Cookie": f"sessionid={session_cookie}"}
    api = {"Authorization": f"Bearer {keys['read']}"}
    deep = run.args.deep_page
    mql_deep, mql_page = walk(port, "/marketing/mqls/", deep, browser, mql_next)
    api_deep, api_page = walk(port, "/api/v1/leads/", deep, api, api_next)
    cases = [
        ("MQL list page", "first page", "/marketing/mqls/", browser, 30),
        ("MQL list page", f"page {mql_page:,}", mql_deep, browser, 30),
        (
            "MQL list page",
            "filtered (source + country + score)",
            "/marketing/mqls/?source=webinar&country=DE&score_min=80",
            browser,
            30,
        ),
        ("MQL list page", "text search (a last name)", "/marketing/mqls/?q=hopper", browser, 100),
        ("GET /api/v1/leads/", "first page", "/api/v1/leads/", api, 30),
        ("GET /api/v1/leads/", f"page {api_page:,}", api_deep, api, 30),
        (
            "GET /api/v1/leads/",
            "filtered (stage + country + source, by score)",
            "/api/v1/leads/?stage=mql&country=DE&source=webinar&ordering=-score",
            api,
            30,
        ),
        ("GET /api/v1/leads/", "text search (a last name)", "/api/v1/leads/?q=hopper", api, 100),
    ]
    for where, label, path, headers, limit in cases:
        timed = time_page(port, path, headers, runs)
        section = f"{where} at {total:,} leads (server-side time, {runs} requests each)"
        note = (
            f"p50 {timed['p50']:.1f} ms; {timed['rows']} rows; {'/'.join(map(str, timed['queries']))} queries; "
            f"client p50 {timed['client_p50']:.1f} ms"
        )
        run.add(
            section, f"{label}: p95", timed["p95"], "ms", target=f"< {limit} ms", met=timed["p95"] < limit, note=note
        )
    # The same count whatever the page size: no query per row.
    counts = {}
    for limit in (1, 50, 200):
        _, headers_, _ = http_get(port, f"/api/v1/leads/?limit={limit}", api)
        counts[limit] = int(headers_.get("x-bench-queries", -1))
    section = "Queries per page"
    run.add(
        section,
        "GET /api/v1/leads/ queries at limit 1 / 50 / 200",
        counts[200],
        "",
        target="the same at every size",
        met=len(set(counts.values())) == 1,
        note=" / ".join(str(counts[limit]) for limit in (1, 50, 200)),
    )


def bench_export(run: Run, server: Server, session_cookie: str) -> None:
    workers = server.web_pids()
    for pid in workers:  # the peak (VmHWM) restarts from the current size
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = {pid: proc_status(pid, "VmRSS") for pid in workers}
    received = {"bytes": 0, "rows": 0}

    def count(chunk: bytes) -> None:
        received["bytes"] += len(chunk)
        received["rows"] += chunk.count(b"\n")

    started = time.perf_counter()
    status, headers, _ = http_get(
        server.port, "/marketing/mqls/export.csv", {"Cookie": f"sessionid={session_cookie}"}, stream=count
    )
    seconds = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"export: HTTP {status}")
    pid = int(headers.get("x-bench-pid", 0))
    growth = proc_status(pid, "VmHWM") - before.get(pid, 0.0)
    rows = received["rows"] - 1
    section = "CSV export of the MQL list (GET /marketing/mqls/export.csv)"
    full = rows >= 100_000
    run.add(
        section,
        f"{rows:,} rows",
        seconds,
        "s",
        target="100,000 rows < 10 s",
        met=(seconds < 10) if full else None,
        note=f"{received['bytes'] / 1e6:.1f} MB of CSV, {rows / seconds:,.0f} rows/s"
        + ("" if full else "; fewer than 100,000 rows at this scale: no verdict"),
    )
    run.add(
        section,
        "peak resident growth of the serving process",
        growth,
        "MB",
        target="< 100 MB",
        met=growth < 100,
        note=f"web process {pid}, {before.get(pid, 0):.0f} MB before",
    )


def bench_memory(run: Run, server: Server) -> None:
    sizes = {pid: proc_status(pid, "VmRSS") for pid in server.web_pids()}
    biggest = max(sizes.values())
    section = "Memory after the runs (resident size)"
    run.add(
        section,
        "largest web process",
        biggest,
        "MB",
        target="< 150 MB",
        met=biggest < 150,
        note=f"{len(sizes)} gunicorn workers: {', '.join(f'{size:.0f}' for size in sorted(sizes.values()))} MB",
    )
    worker = proc_status(server.worker.pid, "VmRSS")
    run.add(section, "Celery worker", worker, "MB", target="< 200 MB", met=worker < 200)


BENCHMARKS = {
    "submissions": "single form submissions",
    "events": "event batches",
    "scoring": "scoring throughput and latency",
    "lists": "MQL list and API list pages",
    "export": "CSV export",
}


# --- Set-up ----------------------------------------------------------------------------------


def api_keys() -> dict:
    from leads.api.auth import api_key_create

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "submit": api_key_create(name=f"bench submit {stamp}", scopes=["submit"]).raw_key,
        "read": api_key_create(name=f"bench read {stamp}", scopes=["read"]).raw_key,
    }


def marketer_session() -> str:
    """A signed-in session of the seeder's marketer, as the login view would store it."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    from bench.seed import MARKETER

    user = get_user_model().objects.get(username=MARKETER)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def machine() -> dict:
    import celery
    import django
    import gunicorn
    import psycopg
    import redis
    from django.db import connection

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_version = redis.Redis.from_url(os.environ["REDIS_URL"]).info("server")["redis_version"]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("[")[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(memory / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": postgres,
        "redis": redis_version,
        "gunicorn": gunicorn.__version__,
        "celery": celery.__version__,
        "psycopg": psycopg.__version__,
        "wrk": wrk_version.strip() or "wrk",
        "commit": commit or "unknown",
    }


# --- The report ------------------------------------------------------------------------------


def write_report(run: Run, path: Path, seed_info, load_start, load_end, started_at: datetime, total: float) -> None:
    m, args = run.machine, run.args
    lines = [
        "# LeadCRM benchmarks",
        "",
        f"Written by `python3 dev.py bench{'' if args.scale == 1 else f' --scale {args.scale:g}'}` (bench/run.py) "
        f"on {started_at:%Y-%m-%d %H:%M} UTC, commit {m['commit']}; the whole run took {total / 60:.1f} minutes. "
        "Every figure is measured in the same run as its baseline, on the same machine, so the ratios hold "
        "even when the machine is busy; each target is issue 9's.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']} GB; {m['os']}",
        f"- Load average at the start: {' / '.join(f'{x:.2f}' for x in load_start)}; at the end: "
        f"{' / '.join(f'{x:.2f}' for x in load_end)} (1 / 5 / 15 minutes)",
        f"- Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, "
        f"gunicorn {m['gunicorn']}, Celery {m['celery']}, psycopg {m['psycopg']}, {m['wrk']}",
        f"- The app as deployed: gunicorn with {args.web_workers} sync workers, DEBUG=0, one Celery worker "
        "process (solo pool), PostgreSQL and Redis on the same machine; load from wrk (2 threads), producer "
        "processes and the bench's own process as separate processes. The bench's gunicorn adds one "
        "middleware (bench/timing.py: Server-Timing and query count headers) and the baseline's URL.",
        f"- Data: {seed_info.leads:,} leads and {seed_info.events:,} events (scale {seed_info.scale:g}; "
        f"{'reused, seeded' if seed_info.reused else 'seeded'} in {seed_info.seconds:.0f} s), plus what the runs add.",
        "",
        "## Figures",
        "",
    ]
    section = None
    for figure in run.figures:
        if figure.section != section:
            section = figure.section
            lines += [
                "",
                f"### {section}",
                "",
                "| figure | value | baseline (same run) | target | |",
                "|---|---|---|---|---|",
            ]
        note = f" ({figure.note})" if figure.note else ""
        lines.append(
            f"| {figure.name}{note} | {figure.formatted()} | {figure.baseline} | {figure.target} | {figure.verdict} |"
        )
    missed = [figure for figure in run.figures if figure.met is False]
    lines += ["", "## Summary", ""]
    targets = [figure for figure in run.figures if figure.met is not None]
    lines.append(
        f"{len(targets) - len(missed)} of {len(targets)} targets met."
        + (
            " Missed: "
            + "; ".join(f"{f.section.split(' (')[0]}: {f.name} ({f.formatted()}, target {f.target})" for f in missed)
            if missed
            else ""
        )
    )
    if args.scale != 1:
        lines += ["", f"At scale {args.scale:g} the figures are indicative only: the targets are for 1,000,000 leads."]
    lines += ["", "## Time of each step", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {label} | {seconds:.1f} |" for label, seconds in run.steps]
    lines += ["", *run.notes] if run.notes else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


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
    sys.path.insert(0, str(ROOT))
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
    keys = api_keys()
    session_cookie = marketer_session()
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
                lambda: bench_submissions(run, server, keys),
            ),
            ("events", "event batches vs COPY", lambda: bench_events(run, server, keys)),
            ("scoring", "scoring throughput and latency", lambda: bench_scoring(run, server, seed_info)),
            ("lists", "MQL list and GET /api/v1/leads/", lambda: bench_lists(run, server, keys, session_cookie)),
            ("export", "CSV export", lambda: bench_export(run, server, session_cookie)),
        ]
        for key, label, benchmark in plan:
            if key in args.skip:
                continue
            with step(run, label):
                try:
                    benchmark()
                except (RuntimeError, OSError) as error:
                    say(f"    FAILED: {error}")
                    run.notes.append(f"- {label}: failed ({error}); see {log_dir}.")
        with step(run, "memory"):
            bench_memory(run, server)
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
