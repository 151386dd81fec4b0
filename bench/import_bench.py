#!/usr/bin/env python
"""CSV import speed on PostgreSQL: rows per second for a 100,000-row file (issue 7).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadcrm_data .venv/bin/python bench/import_bench.py
    ... --rows 100000 --profile          (the first run under cProfile, top 25 by cumulative time)

Generates a realistic semicolon-separated Windows-1252 file in memory (quoted company names with
the delimiter inside, 1 row in 1,000 a duplicate of an earlier email in another case, 1 in 50 with
an invalid email), then runs the import the way its Celery task does (leads.imports.import_run,
in this process: the figure is the import's, not the broker's) three times:

  1. into an empty lead table (every row created),
  2. the same file again, mode update_empty (nothing new: every row found by email and skipped),
  3. the same file again, mode overwrite with changed job titles (every row updated),

and, as the baseline measured in the same run, a COPY of the same valid rows into the same table
(and their queue rows for the scoring worker, which an import writes too: leads.activity).

Scoring's after-commit nudge is disconnected: in production a worker scores the new leads (they
are inserted marked stale), which is scoring's benchmark, not this one. The database must be one
you may wipe: every lead is deleted first.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from leads.imports import import_run, import_set_mapping, import_upload  # noqa: E402
from leads.models import ImportJob, ImportStatus, Lead  # noqa: E402
from leads.signals import events_stored  # noqa: E402


def make_file(rows: int, title: str) -> bytes:
    lines = ["E-Mail;Vorname;Nachname;Firma;Position;Land;Mitarbeiter;Quelle"]
    for i in range(rows):
        if i % 1000 == 999:
            email = f"Person{i - 501}@Firma{(i - 501) % 997}.example"  # a duplicate inside the file
        elif i % 50 == 49:
            email = f"person{i}-at-firma.example"  # invalid
        else:
            email = f"person{i}@firma{i % 997}.example"
        lines.append(f'{email};Jürgen{i};Müller{i};"Firma {i % 997}; GmbH & Co. KG";{title};DE;{i % 5000};Messe')
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def run(raw: bytes, mode: str, profile: bool = False) -> tuple[ImportJob, float, float]:
    started = time.perf_counter()
    job = import_upload(file_name="messe.csv", raw=raw)
    import_set_mapping(job_id=job.pk, mapping=job.mapping, mode=mode)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    run_started = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    job = import_run(job_id=job.pk)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    finished = time.perf_counter()
    return job, finished - started, finished - run_started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database you may wipe.")
    call_command("migrate", verbosity=0)
    events_stored.disconnect(dispatch_uid="scoring.on_events_stored")
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_importjob CASCADE")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        pg_version = cursor.fetchone()[0].split(",")[0]
    print(f"PostgreSQL: {pg_version}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    first = make_file(args.rows, "CTO")
    print(f"file: {args.rows:,} rows, {len(first) / 1e6:.1f} MB, Windows-1252, semicolons")
    for label, raw, mode in (
        ("1. new leads", first, "update_empty"),
        ("2. same file again (update_empty)", first, "update_empty"),
        ("3. changed titles (overwrite)", make_file(args.rows, "CEO"), "overwrite"),
    ):
        job, total, running = run(raw, mode, profile=args.profile and label.startswith("1"))
        print(
            f"{label:38} {args.rows / total:8,.0f} rows/s end to end ({total:5.1f} s; run {running:5.1f} s)  "
            f"created {job.created_count:,} updated {job.updated_count:,} skipped {job.skipped_count:,} "
            f"failed {job.failed_count:,}"
        )
    print(f"leads in the table: {Lead.objects.count():,}")
    copy_baseline(first)


def copy_baseline(raw: bytes) -> None:
    """Baseline measured in the same run: COPY of the same valid rows, every column, into the same
    table with its 21 indexes (4 of them trigram GIN), after a TRUNCATE: the floor of any import."""
    import json

    from django.utils import timezone
    from psycopg.types.json import Jsonb

    from leads import imports, ingest
    from leads.activity import pending_marks_sql

    job = ImportJob.objects.order_by("id").first()
    checked = imports.check_file(raw, encoding=job.encoding, delimiter=job.delimiter, mapping=job.mapping)
    now = timezone.now()
    template = ingest._lead_row(email="", now=now, values={"score_stale": True, "score_stale_since": now})
    template = {c: json.dumps(v.obj) if isinstance(v, Jsonb) else v for c, v in template.items()}
    columns = list(template)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead CASCADE")
    started = time.perf_counter()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY leads_lead ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in checked.rows:
            values = dict(template)
            values.update({k: v for k, v in row.values.items() if k in template})
            values["company_domain"] = row.values.get("company_domain") or row.values["email"].split("@")[1]
            copy.write_row([values[c] for c in columns])
    with connection.cursor() as cursor:  # the leads are marked stale: queue them as an import does
        cursor.execute(pending_marks_sql(leads="SELECT id FROM leads_lead"), [now])
    elapsed = time.perf_counter() - started
    rows = len(checked.rows)
    print(f"{'baseline: COPY of the same valid rows':38} {rows / elapsed:8,.0f} rows/s ({elapsed:5.1f} s for {rows:,})")


if __name__ == "__main__":
    main()
