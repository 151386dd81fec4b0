"""CPU per request of the MQL list page, measured in-process (robust to a busy machine).

Builds the WSGI application as gunicorn does (bench.settings: the app's settings with DEBUG=0 and
the bench's timing middleware), signs in as the seeder's marketer, and calls the page N times per
case, as the suite's list benchmark asks for it:

- first: /marketing/mqls/
- deep: the page reached by following --deep-page - 1 next-page links (keyset cursors)
- filtered: source + country + minimum score (--filtered, 25 rows on a small seed)

Per case it reports this process's CPU per request (time.process_time: Django, templates,
psycopg; not PostgreSQL's own work) and the wall time, medians of several runs. Rendering costs
the same whatever the table's size, so a small seed will do:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_mine BENCH_REDIS_URL=redis://127.0.0.1:6379/N \\
      .venv/bin/python bench/run.py --scale 0.02 --seed-only
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_mine REDIS_URL=redis://127.0.0.1:6379/N \\
      .venv/bin/python bench/profile_list_page.py --requests 60 --runs 3
    ... --profile                  # one more pass of every case under cProfile, top functions
    ... --dump var/html/before     # each case's page, CSRF token and relative times normalized

It only reads (and stores the marketer's session).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILTERED = "/marketing/mqls/?source=organic_search&country=US&score_min=80"


def configure() -> None:
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL (the seeded database of your own) and REDIS_URL.")
    os.environ.update(
        DEBUG="0",
        SECRET_KEY="profile-" + secrets.token_urlsafe(48),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="bench.settings",
    )
    os.environ.setdefault("LEADCRM_VAR_DIR", str(ROOT / "var" / "bench"))  # collected by bench/run.py
    sys.path.insert(0, str(ROOT))


def environ(path: str, cookie: str) -> dict:
    path, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_COOKIE": f"sessionid={cookie}",
        "HTTP_ACCEPT": "text/html",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def normalized(body: bytes) -> str:
    """The page without what changes from one request to the next: the CSRF token, and the
    relative times' text (the clock moves between two runs)."""
    text = body.decode()
    text = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+', r"\1CSRF", text)
    text = re.sub(r'("X-CSRFToken": ")[^"]+', r"\1CSRF", text)
    return re.sub(r'(<time class="reltime"[^>]*>)[^<]*', r"\1TIME", text)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60, help="requests per case and run (60)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--deep-page", type=int, default=40, help="the deep page (40: reachable on a 0.02 seed)")
    parser.add_argument("--filtered", default=FILTERED)
    parser.add_argument("--profile", action="store_true", help="one more pass under cProfile (CPU time)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--profile-out", type=Path, help="also write the cProfile stats to this file (pstats)")
    parser.add_argument("--dump", type=Path, help="write each case's normalized page into this folder")
    args = parser.parse_args(argv)

    configure()
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application

    from bench.suite import marketer_session, mql_next

    app = get_wsgi_application()
    cookie = marketer_session()

    def get(path: str) -> bytes:
        answer: dict = {}

        def start_response(status, response_headers, exc_info=None):
            answer["status"] = int(status.split()[0])

        result = app(environ(path, cookie), start_response)
        body = b"".join(result)
        if hasattr(result, "close"):
            result.close()
        if answer["status"] != 200:
            raise SystemExit(f"{path}: HTTP {answer['status']}: {body[:300]!r}")
        return body

    deep, page = "/marketing/mqls/", 1
    while page < args.deep_page:
        following = mql_next(get(deep))
        if not following:
            break
        deep, page = following, page + 1
    cases = {"first": "/marketing/mqls/", f"deep (page {page})": deep, "filtered": args.filtered}

    print(f"{args.runs} runs x {args.requests} requests per case; per request, median and min of the runs [each run]")
    for label, path in cases.items():
        body = get(path)
        rows = body.count(b"<tr data-lead=")
        for _ in range(args.warmup):
            get(path)
        cpu_ms, wall_ms = [], []
        for _ in range(args.runs):
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            for _ in range(args.requests):
                get(path)
            cpu_ms.append((time.process_time() - cpu_start) * 1000 / args.requests)
            wall_ms.append((time.perf_counter() - wall_start) * 1000 / args.requests)
        print(
            f"  {label:16} {rows:3} rows  CPU {statistics.median(cpu_ms):6.2f} ms (min {min(cpu_ms):.2f})"
            f" [{', '.join(f'{v:.2f}' for v in cpu_ms)}]  wall {statistics.median(wall_ms):6.2f} ms"
        )
        if args.dump:
            args.dump.mkdir(parents=True, exist_ok=True)
            (args.dump / f"{label.split()[0]}.html").write_text(normalized(body))

    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not the waits on PostgreSQL
        profiler.enable()
        for path in cases.values():
            for _ in range(args.requests):
                get(path)
        profiler.disable()
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
            print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
