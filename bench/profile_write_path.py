"""CPU per request of the API's write path, measured in-process (robust to a busy machine).

Builds the WSGI application as gunicorn does (bench.settings: the app's settings with DEBUG=0, the
bench's timing middleware and its /baseline/ view), then calls it N times per run with a real API
key and a new email each time, and reports per request:

- app: this process's CPU (time.process_time: Django, DRF, psycopg, redis-py);
- pg: the CPU of this connection's PostgreSQL backend (/proc/<backend pid>/stat, same machine);

as the median of several runs. A throughput figure under load depends on the neighbours; these
do not (much). `--profile` runs one more pass under cProfile and prints the top functions.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_wpath REDIS_URL=redis://127.0.0.1:6379/1 \\
      .venv/bin/python bench/profile_write_path.py submission --requests 500 --runs 5
    ... events --requests 20 --runs 5            # batches of 1,000 events
    ... baseline --requests 500 --runs 5         # the bare one-row view
    ... copy --requests 20 --runs 5              # the events' baseline: COPY of 1,000 such rows
    ... submission --profile                     # cProfile, top 40 by cumulative/own time

It refuses to run without DATABASE_URL (it writes leads, submissions and events into it).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENT_TYPES = ("page_view", "email_open", "email_click", "pricing_page_view", "feature_used", "content_download")


def configure() -> None:
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL (a database of your own: this writes into it) and REDIS_URL.")
    os.environ.update(
        DEBUG="0",
        SECRET_KEY="profile-" + secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        API_RATE_LIMIT="100000000/minute",  # the limiter runs but never refuses
        LEADCRM_VAR_DIR=str(ROOT / "var" / "profile"),
        DJANGO_SETTINGS_MODULE="bench.settings",
    )
    sys.path.insert(0, str(ROOT))


def environ(method: str, path: str, body: bytes, headers: dict) -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
    }
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def submission_body(run_id: str, n: int) -> bytes:
    # The same body as bench/api/submission.lua.
    body = {
        "form_name": "bench",
        "email": f"s{run_id}-{n}@bench.example",
        "first_name": "Ada",
        "last_name": "Bench",
        "company": "Bench Co",
        "job_title": "CTO",
        "country": "DE",
        "company_size": 50,
        "utm_source": "wrk",
        "utm_campaign": "load",
        "consent": True,
        "page_url": "https://example.com/form",
        "fields": {"n": n},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def events_body(run_id: str, n: int, size: int, rng) -> bytes:
    # The same shape as bench/api/events.lua: 20,000 emails, unique external ids.
    items = [
        {
            "email": f"e{rng.randint(0, 19999)}@bench.example",
            "event_type": EVENT_TYPES[i % len(EVENT_TYPES)],
            "occurred_at": f"2026-01-{i % 28 + 1:02d}T10:{i % 60:02d}:00Z",
            "properties": {"path": f"/docs/{i % 50}", "n": i},
            "external_id": f"{run_id}-{n}-{i}",
            "source": "wrk",
        }
        for i in range(1, size + 1)
    ]
    return json.dumps({"events": items}, separators=(",", ":")).encode()


def copy_events(connection, lead_ids: list[int], tag: str, size: int, rng) -> None:
    """The baseline of a batch: COPY `size` rows of the same shape into the events table, in one
    transaction (the bench suite's COPY baseline, batch by batch)."""
    from django.db import transaction
    from django.utils import timezone

    now = timezone.now()
    columns = "lead_id, event_type, occurred_at, properties, source, external_id, received_at"
    sql = f"COPY leads_engagementevent ({columns}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for i in range(1, size + 1):
            properties = json.dumps({"path": f"/docs/{i % 50}", "n": i})
            occurred = f"2026-01-{i % 28 + 1:02d}T10:{i % 60:02d}:00+00:00"
            event_type = EVENT_TYPES[i % len(EVENT_TYPES)]
            copy.write_row((rng.choice(lead_ids), event_type, occurred, properties, "copy", f"{tag}-{i}", now))


def backend_cpu_ms(pid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / ticks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["submission", "events", "baseline", "copy"])
    parser.add_argument("--requests", type=int, default=None, help="requests per run (300; events: 20)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1000, help="events per batch (1000)")
    parser.add_argument("--warmup", type=int, default=None, help="requests before measuring (50; events: 3)")
    parser.add_argument("--profile", action="store_true", help="one more run under cProfile (CPU time)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    batches = args.kind in ("events", "copy")
    requests = args.requests or (20 if batches else 300)
    warmup = args.warmup if args.warmup is not None else (3 if batches else 50)

    configure()
    import random

    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from django.db import connection

    from leads.api.auth import api_key_create

    Path(os.environ["LEADCRM_VAR_DIR"]).mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    app = get_wsgi_application()
    gc.freeze()  # as gunicorn's workers do once the app is loaded (leadcrm/gunicorn.conf.py)
    raw_key = api_key_create(name=f"profile {time.time():.0f}", scopes=["submit"]).raw_key
    headers = {"Authorization": f"Bearer {raw_key}"}
    run_id = secrets.token_hex(4)
    rng = random.Random(7)
    counter = 0

    lead_ids: list[int] = []
    if args.kind == "copy":
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM leads_lead ORDER BY id LIMIT 20000")
            lead_ids = [row[0] for row in cursor.fetchall()]
        if not lead_ids:
            raise SystemExit("copy: the database holds no lead (run `events` first, which creates 20,000)")

    def one() -> int:
        nonlocal counter
        counter += 1
        if args.kind == "copy":
            copy_events(connection, lead_ids, f"{run_id}-{counter}", args.batch, rng)
            return 200
        if args.kind == "submission":
            env = environ("POST", "/api/v1/submissions/", submission_body(run_id, counter), headers)
        elif args.kind == "events":
            env = environ("POST", "/api/v1/events/", events_body(run_id, counter, args.batch, rng), headers)
        else:
            env = environ("POST", "/baseline/", b"{}", {})
        answer: dict = {}

        def start_response(status, response_headers, exc_info=None):
            answer["status"] = int(status.split()[0])

        result = app(env, start_response)
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        if answer["status"] >= 300:
            raise SystemExit(f"HTTP {answer['status']}: {body[:500]!r}")
        if args.kind == "events":
            outcome = json.loads(body)
            if outcome.get("accepted") != args.batch:
                raise SystemExit(f"not every event accepted: {body[:300]!r}")
        return answer["status"]

    bodies_cost = 0.0
    if args.kind == "events":  # building the JSON body is the client's work: measured and subtracted
        start = time.process_time()
        for n in range(5):
            events_body(run_id, -n - 1, args.batch, random.Random(n))
        bodies_cost = (time.process_time() - start) / 5

    for _ in range(warmup):
        one()
    # Django closes the connection at the end of each request only when CONN_MAX_AGE says so;
    # read the backend's pid after each run, as it may have changed.
    app_ms, pg_ms, wall_ms = [], [], []
    for _ in range(args.runs):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0] if connection.vendor == "postgresql" else None
        pg_start = backend_cpu_ms(pid) if pid else 0.0
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for _ in range(requests):
            one()
        cpu = time.process_time() - cpu_start - bodies_cost * requests
        wall = time.perf_counter() - wall_start
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            same = connection.vendor == "postgresql" and cursor.fetchone()[0] == pid
        pg = (backend_cpu_ms(pid) - pg_start) if same else float("nan")
        app_ms.append(cpu * 1000 / requests)
        pg_ms.append(pg / requests)
        wall_ms.append(wall * 1000 / requests)

    unit = f"batch of {args.batch}" if args.kind in ("events", "copy") else "request"
    print(f"{args.kind}: {args.runs} runs x {requests} requests, per {unit} (median; all runs)")
    for label, values in (("app CPU ms", app_ms), ("pg backend CPU ms", pg_ms), ("wall ms", wall_ms)):
        print(f"  {label:18} {statistics.median(values):8.2f}   [{', '.join(f'{v:.2f}' for v in values)}]")
    total = statistics.median(a + p for a, p in zip(app_ms, pg_ms, strict=True))
    print(f"  {'app + pg CPU ms':18} {total:8.2f}")
    if args.kind in ("events", "copy"):
        print(f"  events/s of CPU    {args.batch * 1000 / total:8.0f}  (one core busy with app + pg)")

    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not the waits on PostgreSQL/Redis
        profiler.enable()
        for _ in range(requests):
            one()
        profiler.disable()
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
