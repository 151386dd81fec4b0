#!/usr/bin/env python
"""Scoring benchmarks on PostgreSQL + Redis with a real Celery worker (one process, solo pool).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_scoring \\
    REDIS_URL=redis://127.0.0.1:6379/5 \\
    .venv/bin/python bench/scoring_bench.py throughput --leads 40000 --events-per-lead 25
    ...                                     latency --rate 1000 --seconds 30
    ...                                     preview --leads 100000
    ...                                     profile            (the drain in-process under cProfile)

throughput: seeds leads and events with COPY, marks every lead stale, starts one worker process,
    sends one drain and times until no lead is stale: events scored per second.
latency: a steady load of events through the integrations' own path (events_ingest, what POST
    /api/v1/events/ runs: store, queue for scoring, nudge on commit), each batch's events on different
    leads, from producer processes; a poller notes when each lead's new score is visible: p50/p95/p99
    of (visible - committed).
preview: the what-if preview of a draft over every lead.

The database must be one you may wipe: the bench deletes every lead first (--keep to reuse them).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.db.models.fields import NOT_PROVIDED  # noqa: E402

from leads.activity import pending_marks_add  # noqa: E402
from leads.ingest import EventInput, events_ingest  # noqa: E402
from leads.models import EngagementEvent, Lead, PendingActivity  # noqa: E402
from scoring import services  # noqa: E402
from scoring.preview import ruleset_preview  # noqa: E402

EVENT_MIX = [
    ("page_view", 40),
    ("email_open", 20),
    ("email_click", 10),
    ("content_download", 6),
    ("webinar_registered", 3),
    ("webinar_attended", 2),
    ("form_submitted", 3),
    ("pricing_page_view", 4),
    ("product_active_day", 6),
    ("feature_used", 5),
    ("unsubscribe", 1),
]
TITLES = ["Engineer", "Marketing Manager", "VP Sales", "Director of IT", "Student", "CTO", "Analyst", "Founder"]
INDUSTRIES = ["Software", "Retail", "Financial Services", "Education", "Manufacturing", "SaaS"]
COUNTRIES = ["US", "DE", "FR", "BR", "IN", "GB", "JP", "AU"]


def say(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


# --- Seeding with COPY ---------------------------------------------------------------------


def _copy(model, columns: list[str], rows) -> None:
    """COPY rows (tuples in `columns` order) into the model's table; other columns get their
    Django defaults (the database has none of its own)."""
    now = datetime.now(UTC)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    extra = []
    for field in fields:
        if field.column in columns:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif field.default is not NOT_PROVIDED:
            value = field.get_default()
        elif field.null:
            value = None
        else:
            value = ""
        if isinstance(value, dict | list):
            value = json.dumps(value)
        extra.append((field.column, value))
    all_columns = columns + [column for column, _ in extra]
    extra_values = tuple(value for _, value in extra)
    sql = f"COPY {model._meta.db_table} ({', '.join(all_columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row + extra_values)


def seed(leads: int, events_per_lead: int, days: int = 120) -> int:
    say(f"Deleting old data, seeding {leads:,} leads x {events_per_lead} events with COPY")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {EngagementEvent._meta.db_table}, {Lead._meta.db_table} RESTART IDENTITY CASCADE")
    rng = random.Random(7)
    now = datetime.now(UTC)
    started = time.monotonic()
    _copy(
        Lead,
        ["email", "job_title", "company_size", "industry", "country", "stage", "stage_changed_at"],
        (
            (
                f"bench{i}@company{i % 5000}.example",
                rng.choice(TITLES),
                rng.choice([5, 20, 80, 300, 2000]),
                rng.choice(INDUSTRIES),
                rng.choice(COUNTRIES),
                "lead",
                now - timedelta(days=days + 1),
            )
            for i in range(leads)
        ),
    )
    first_id = Lead.objects.order_by("id").values_list("id", flat=True).first()
    types = [name for name, weight in EVENT_MIX for _ in range(weight)]
    _copy(
        EngagementEvent,
        ["lead_id", "event_type", "occurred_at", "received_at", "properties", "source"],
        (
            (
                first_id + i,
                rng.choice(types),
                now - timedelta(seconds=rng.randrange(days * 86400)),
                now - timedelta(days=days),
                json.dumps({"url": "https://example.com/pricing"} if rng.random() < 0.1 else {"url": "/blog"}),
                "bench",
            )
            for i in range(leads)
            for _ in range(events_per_lead)
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Lead._meta.db_table}; ANALYZE {EngagementEvent._meta.db_table}")
    total = leads * events_per_lead
    say(f"Seeded {total:,} events in {time.monotonic() - started:.1f}s")
    return total


def mark_all_stale() -> None:
    """Every lead marked as lead_mark_score_stale marks (the flag and the worker's queue rows)."""
    Lead.objects.update(score_stale=True, score_stale_since=datetime.now(UTC), scored_at=None)
    pending_marks_add(Lead.objects.values_list("id", flat=True))


def stale_count() -> int:
    """Leads waiting to be scored: the entries of the pending-activity queue (every mark queues its
    leads too, and the worker deletes a row in the transaction that clears their marks)."""
    return PendingActivity.objects.aggregate(entries=Sum("lead_count"))["entries"] or 0


# --- The worker ------------------------------------------------------------------------------


def start_worker(log_path: Path, *, flush: bool = True) -> subprocess.Popen:
    """One Celery worker process (solo pool) on REDIS_URL; `flush` empties that Redis database
    first (queued tasks of an earlier run would otherwise be part of the measurement)."""
    import redis

    if flush:
        redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "leadcrm", "worker", "--pool=solo", "--loglevel=WARNING",
         "--without-gossip", "--without-mingle", f"--hostname=bench-{os.getpid()}@%h"],
        cwd=ROOT, env=dict(os.environ, LOG_LEVEL="WARNING"), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    time.sleep(3)
    if process.poll() is not None:
        sys.exit(f"worker did not start:\n{log_path.read_text()}")
    return process


def stop_worker(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- Benchmarks ------------------------------------------------------------------------------


def time_drain(*, timeout: float = 600.0) -> tuple[float, bool]:
    """Queue one drain (the task a nudge queues) and wait until no lead is stale: (seconds, done).
    A worker must be running; done is False when the timeout came first."""
    from scoring.tasks import recompute_stale_scores_task

    started = time.monotonic()
    recompute_stale_scores_task.delay()
    while stale_count():
        if time.monotonic() - started > timeout:
            return time.monotonic() - started, False
        time.sleep(0.05)
    return time.monotonic() - started, True


def bench_throughput(args) -> None:
    services.ruleset_ensure_published()
    total_events = seed(args.leads, args.events_per_lead) if not args.keep else EngagementEvent.objects.count()
    worker = start_worker(Path("/tmp/leadcrm-bench-worker.log"))
    try:
        for run in range(args.runs):
            mark_all_stale()
            elapsed, _ = time_drain()
            say(
                f"run {run + 1}: {args.leads:,} leads, {total_events:,} events scored in {elapsed:.2f}s by one worker "
                f"process (load average {os.getloadavg()[0]:.1f}): {total_events / elapsed:,.0f} events/s, "
                f"{args.leads / elapsed:,.0f} leads/s "
                f"(worker RSS {rss_mb(worker.pid):.0f} MB)"
            )
    finally:
        stop_worker(worker)


def bench_profile(args) -> None:
    services.ruleset_ensure_published()
    if not args.keep:
        seed(args.leads, args.events_per_lead)
    mark_all_stale()
    profiler = cProfile.Profile()
    started = time.monotonic()
    profiler.enable()
    outcome = services.scores_recompute_stale()
    profiler.disable()
    elapsed = time.monotonic() - started
    say(f"in-process drain: {outcome.events:,} events, {outcome.leads:,} leads in {elapsed:.2f}s: "
        f"{outcome.events / elapsed:,.0f} events/s")  # fmt: skip
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(25)
    print(stream.getvalue())


def _produce(seed_value: int, lead_ids: list[int], calls_per_second: float, per_call: int, seconds: float, queue):
    """A producer process: batches of events through the integrations' path (store, queue for
    scoring, nudge on commit) at a steady pace, each event on a different lead; after each commit it
    reports (lead id, commit time) of each to the poller."""
    connection.close()  # never share the parent's database socket after fork
    rng = random.Random(seed_value)
    interval = 1.0 / calls_per_second
    end = time.monotonic() + seconds
    next_at = time.monotonic()
    try:
        while time.monotonic() < end:
            leads = rng.sample(lead_ids, per_call)
            items = [
                (index, EventInput(event_type=rng.choice(["page_view", "email_click", "content_download"]),
                                   occurred_at=datetime.now(UTC), lead_id=lead_id, source="bench"))
                for index, lead_id in enumerate(leads)
            ]  # fmt: skip
            with transaction.atomic():
                events_ingest(items=items)
                # The clock before COMMIT: a pass that sees these events takes them after the
                # commit, so it stamps a later scored_at. Read after the commit, the clock could
                # be later than a pass that already took them, and that lead would never count.
                committed = time.time()
            for lead_id in leads:
                queue.put((lead_id, committed, 1))
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    finally:
        connection.close()
        queue.put(None)


def _scored_since(pending: dict[int, float]) -> set[int]:
    """Those of the pending leads ({lead id: commit time of its oldest unscored event}) whose score
    now includes that event.

    The worker stamps scored_at with the time it started the pass, before it reads the lead's
    events; a pass that took the event started after the commit, and the poller sees its row only
    once the pass has committed. So scored_at >= commit time (the producer's clock reading just
    before its COMMIT, the same clock) means the new score is visible. One primary-key lookup per
    pending lead: the poller's own cost grows with the backlog, not with the whole queue (reading
    every queue row each poll took CPU from the worker it measures once a backlog formed)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, scored_at FROM leads_lead WHERE id = ANY(%s)", [list(pending)])
        rows = cursor.fetchall()
    return {lead_id for lead_id, at in rows if at is not None and at.timestamp() >= pending[lead_id]}


@dataclass
class LatencyResult:
    sent: int  # events committed by the producers
    seconds: float  # how long the load lasted
    observed: int  # lead updates whose new score was seen
    never: int  # lead updates still not scored when the poller gave up
    latencies_ms: list[float]
    poller_cpu_s: float = 0.0  # the poller's own CPU (this process and its PostgreSQL backend)

    def pct(self, p: float) -> float:
        values = self.latencies_ms
        return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def measure_latency(
    lead_ids: list[int], *, rate: int, seconds: float, producers: int, per_call: int, give_up_after: float = 30.0
) -> LatencyResult:
    """A steady `rate` events/s through the app's own path from `producers` processes while a
    worker runs; a poller here notes when each lead's new score is visible (commit -> visible)."""
    import multiprocessing
    import queue as queues

    calls_per_second = rate / per_call / producers
    context = multiprocessing.get_context("fork")
    reports = context.Queue()
    connection.close()
    processes = [
        context.Process(target=_produce, args=(i, lead_ids, calls_per_second, per_call, seconds, reports))
        for i in range(producers)
    ]
    for process in processes:
        process.start()
    # The poller: committed events of a lead neither queued nor marked are in its score.
    pending: dict[int, float] = {}
    latencies: list[float] = []
    running, sent = len(processes), 0
    poller_start = time.process_time()
    give_up = None
    while running or pending:
        try:
            while True:
                report = reports.get_nowait()
                if report is None:
                    running -= 1
                    continue
                lead_id, committed, count = report
                sent += count
                pending.setdefault(lead_id, committed)
        except queues.Empty:
            pass
        poll_seconds = 0.0
        if pending:
            started = time.monotonic()
            scored = _scored_since(pending)
            seen = time.time()
            for lead_id in scored:
                latencies.append((seen - pending.pop(lead_id)) * 1000)
            poll_seconds = time.monotonic() - started
        if not running and give_up is None:
            give_up = time.monotonic() + give_up_after
        if give_up is not None and time.monotonic() > give_up:
            break
        # Every 10 ms, or less often when a poll is slow (a long backlog): the poller spends at
        # most a fifth of a core, which the worker it measures would otherwise not get.
        time.sleep(max(0.01, 4 * poll_seconds))
    for process in processes:
        process.join()
    poller_cpu = time.process_time() - poller_start
    with connection.cursor() as cursor:  # the poller's backend, opened by its first poll
        cursor.execute("SELECT pg_backend_pid()")
        poller_cpu += process_cpu_seconds(cursor.fetchone()[0])
    latencies.sort()
    return LatencyResult(
        sent=sent,
        seconds=seconds,
        observed=len(latencies),
        never=len(pending),
        latencies_ms=latencies,
        poller_cpu_s=poller_cpu,
    )


def bench_latency(args) -> None:
    services.ruleset_ensure_published()
    if not args.keep:
        seed(args.leads, args.events_per_lead)
    say("Scoring every lead once before the load starts")
    mark_all_stale()
    services.scores_recompute_stale()
    lead_ids = list(Lead.objects.values_list("id", flat=True))
    worker = start_worker(Path("/tmp/leadcrm-bench-worker.log"))
    say(f"Steady load: {args.rate} events/s ({args.producers} producer processes, {args.events_per_call} events "
        f"per batch) for {args.seconds}s over {len(lead_ids):,} leads; one worker process")  # fmt: skip
    try:
        result = measure_latency(
            lead_ids, rate=args.rate, seconds=args.seconds, producers=args.producers, per_call=args.events_per_call
        )
    finally:
        stop_worker(worker)
    say(
        f"sent {result.sent:,} events in {args.seconds}s ({result.sent / args.seconds:,.0f}/s, load average "
        f"{os.getloadavg()[0]:.1f}); {result.observed:,} lead updates observed, {result.never} never: "
        f"commit -> score visible p50 {result.pct(0.5):.0f} ms, p95 {result.pct(0.95):.0f} ms, "
        f"p99 {result.pct(0.99):.0f} ms, max {result.pct(1.0):.0f} ms; the poller's CPU {result.poller_cpu_s:.1f} s"
    )


def bench_preview(args) -> None:
    services.ruleset_ensure_published()
    if not args.keep:
        seed(args.leads, args.events_per_lead)
        mark_all_stale()
        services.scores_recompute_stale()
    draft = services.ruleset_create_draft()
    services.ruleset_update(ruleset=draft, mql_threshold=draft.mql_threshold - 10)
    for run in range(args.runs):
        started, cpu_started = time.monotonic(), time.process_time()
        result = ruleset_preview(ruleset=draft)
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_started
        newly = {str(stage): count for stage, count in result["newly"].items()}
        say(f"preview run {run + 1}: {result['leads']:,} leads in {elapsed:.2f}s wall, {cpu:.2f}s CPU of this "
            f"process (load average {os.getloadavg()[0]:.1f}); newly {newly}")  # fmt: skip
    services.ruleset_discard_draft(ruleset=draft)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", choices=["throughput", "latency", "preview", "profile"])
    parser.add_argument("--leads", type=int, default=40_000)
    parser.add_argument("--events-per-lead", type=int, default=25)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rate", type=int, default=1000, help="latency: events per second")
    parser.add_argument("--seconds", type=int, default=30, help="latency: how long the load lasts")
    parser.add_argument("--producers", type=int, default=4, help="latency: producer processes")
    parser.add_argument("--events-per-call", type=int, default=20, help="latency: events per batch (each a lead)")
    parser.add_argument("--keep", action="store_true", help="reuse the leads and events already there")
    args = parser.parse_args()
    if connection.vendor != "postgresql" or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database you may wipe, and REDIS_URL.")
    call_command("migrate", verbosity=0)
    {"throughput": bench_throughput, "latency": bench_latency, "preview": bench_preview, "profile": bench_profile}[
        args.bench
    ](args)


if __name__ == "__main__":
    main()
