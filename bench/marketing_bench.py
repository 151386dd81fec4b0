#!/usr/bin/env python
"""The MQL list and the CSV export at 1,000,000 leads (issue 5), on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_marketing \\
    .venv/bin/python bench/marketing_bench.py seed --leads 1000000     (COPY; wipes every lead first)
    ...                                       list --runs 30            (first page, page 1,000, filters, search)
    ...                                       export                    (100,000 MQLs, time and memory growth)

`list` times the whole Django view in-process (middleware, queries, template), the server-side
time of a request, and counts its queries. `export` runs in a fresh process and reports how much
its peak resident size grew while streaming the CSV. The database must be one you may wipe.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Group  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from leads import marketing_selectors  # noqa: E402
from leads.models import Lead  # noqa: E402

STAGES = [("lead", 0.55), ("mql", 0.10), ("sql", 0.08), ("pql", 0.05), ("customer", 0.1), ("disqualified", 0.12)]
SOURCES = ["organic_search", "paid_search", "paid_social", "webinar", "content", "referral", "event", "email"]
COUNTRIES = ["US", "GB", "DE", "FR", "CA", "NL", "SE", "AU", "IN", "BR"]
INDUSTRIES = ["Software", "SaaS", "Financial Services", "Retail", "Health", "Manufacturing", "Education"]
COMPANIES = ["Acme", "Initech", "Globex", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Wonka", "Tyrell"]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Edsger", "Margaret", "Donald", "Ken", "Radia"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Dijkstra", "Hamilton", "Knuth", "Thompson", "Perlman"]
COLUMNS = (
    "email, first_name, last_name, company, company_domain, job_title, phone, country, industry, company_size, "
    "source, utm_source, utm_medium, utm_campaign, utm_term, utm_content, consent, unsubscribed, stage, "
    "stage_changed_at, fit_score, engagement_score, score, score_breakdown, score_ruleset_version, scored_at, "
    "score_stale, created_at, updated_at, last_activity_at, next_step"
)


def _stage(r: float) -> str:
    for stage, share in STAGES:
        if r < share:
            return stage
        r -= share
    return "lead"


def seed(leads: int) -> None:
    if connection.vendor != "postgresql":
        sys.exit("PostgreSQL only (DATABASE_URL).")
    rng = random.Random(5)
    now = datetime.now(UTC)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead RESTART IDENTITY CASCADE")
    raw = connection.connection
    with raw.cursor() as cursor, cursor.copy(f"COPY leads_lead ({COLUMNS}) FROM STDIN") as copy:
        for n in range(leads):
            company = rng.choice(COMPANIES) + f" {n % 5000}"
            domain = f"{company.split()[0].lower()}{n % 5000}.example"
            created = now - timedelta(seconds=rng.randint(0, 730 * 86400))
            active = None if rng.random() < 0.2 else created + (now - created) * rng.random()
            fit, engagement = rng.randint(-10, 45), rng.randint(0, 110)
            breakdown = '[{"kind":"fit","rule":"Company of 50+","points":10}]'
            copy.write_row(
                (
                    f"lead{n}@{domain}",
                    rng.choice(FIRST),
                    rng.choice(LAST),
                    company,
                    domain,
                    "Marketing Manager",
                    "",
                    rng.choice(COUNTRIES),
                    rng.choice(INDUSTRIES),
                    rng.choice([8, 40, 120, 600, 2500]),
                    rng.choice(SOURCES),
                    "google",
                    "cpc",
                    f"campaign-{n % 40}",
                    "",
                    "",
                    True,
                    False,
                    _stage(rng.random()),
                    created,
                    fit,
                    engagement,
                    fit + engagement,
                    breakdown,
                    1,
                    now,
                    False,
                    created,
                    created,
                    active,
                    "",
                )
            )
    raw.commit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    print(f"seeded {leads:,} leads in {time.monotonic() - started:.1f}s")


def _marketer():
    user, _ = get_user_model().objects.get_or_create(username="bench-marketer")
    user.groups.add(Group.objects.get(name="marketing"))
    return user


def _cursor_at(position: int, sort: str = "score") -> str:
    """The cursor of page `position // 25 + 1` (OFFSET is fine here: it is the bench's setup)."""
    filters = {"stage": "mql", "sort": sort}
    leads = marketing_selectors.leads_filtered(filters=filters, user=None)
    column = marketing_selectors.SORTS[sort].column
    row = leads.order_by(f"-{column}", "-id")[position - 1 : position].get()
    return marketing_selectors.encode_cursor(marketing_selectors.SORTS[sort], row)


def _time(client: Client, url: str, runs: int) -> tuple[float, float, float, int, int]:
    client.get(url, secure=True)  # warm
    times, db_times = [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url, secure=True)
            times.append((time.perf_counter() - started) * 1000)
        db_times.append(sum(float(query["time"]) for query in queries.captured_queries) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    rows = response.content.decode().count("<tr data-lead=")
    return statistics.median(times), p95, statistics.median(db_times), len(queries.captured_queries), rows


def bench_list(runs: int) -> None:
    client = Client()
    client.force_login(_marketer())
    total = Lead.objects.count()
    cases = [
        ("first page (MQLs by score)", "/marketing/mqls/"),
        ("page 1,000 (MQLs by score)", f"/marketing/mqls/?after={_cursor_at(25 * 999)}"),
        ("page 1,000 (MQLs by newest)", f"/marketing/mqls/?sort=newest&after={_cursor_at(25 * 999, 'newest')}"),
        ("filtered (source + country + score)", "/marketing/mqls/?source=webinar&country=DE&score_min=80"),
        ("filtered, last activity sort", "/marketing/mqls/?sort=activity&campaign=campaign-7"),
        ("text search (name word)", "/marketing/mqls/?q=hopper"),
        ("text search (company substring)", "/marketing/mqls/?q=globex%2042"),
    ]
    print(f"MQL list at {total:,} leads, {runs} runs each (server-side time of the whole view)")
    print(f"{'case':40} {'p50 ms':>8} {'p95 ms':>8} {'SQL p50':>8} {'queries':>8} {'rows':>5}")
    for label, url in cases:
        p50, p95, db_p50, queries, rows = _time(client, url, runs)
        print(f"{label:40} {p50:8.1f} {p95:8.1f} {db_p50:8.1f} {queries:8d} {rows:5d}")


def bench_export() -> None:
    client = Client()
    client.force_login(_marketer())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = client.get("/marketing/mqls/export.csv", secure=True)
    rows = size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        rows += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"export: {rows - 1:,} rows, {size / 1e6:.1f} MB of CSV in {elapsed:.2f}s; "
        f"peak resident size grew by {(after - before) / 1024:.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    seed_parser = sub.add_parser("seed")
    seed_parser.add_argument("--leads", type=int, default=1_000_000)
    list_parser = sub.add_parser("list")
    list_parser.add_argument("--runs", type=int, default=30)
    sub.add_parser("export")
    args = parser.parse_args()
    if args.command == "seed":
        seed(args.leads)
    elif args.command == "list":
        bench_list(args.runs)
    else:
        bench_export()


if __name__ == "__main__":
    main()
