"""Pending activity: new events reach their lead's row through an append-only queue.

An event batch names up to a thousand leads. Updating each of their rows in the request (last
activity forward, score marked stale) was most of a batch's database time: every such update
writes a new row version and an entry in each of the lead's ~20 indexes, and waits for any lead
a scoring worker holds. Instead the batch appends one PendingActivity row (every lead it names,
with the latest time of its events) in the events' own transaction. The scoring worker takes
queue rows, locks their leads, scores them and writes score and last_activity_at in one UPDATE
(scoring.services.scores_recompute_stale): off the request path, and one row version per lead
per pass instead of a mark by the request and a score by the worker.

Nothing is lost: the queue rows commit with their events; a take deletes its rows in the same
transaction as the scores it writes, so a worker that dies rolls back whole; a lost nudge leaves
the rows for the sweeper. A lead's last_activity_at and score therefore trail its events by the
time to the next pass (well under a second with a worker running); score_is_stale tells a
reader whether a lead still has events on the way.

Marks (a field edit, a rule set, a merge, a submission: leads.services.lead_mark_score_stale)
queue their leads too, with no activity time ("a" absent): the queue is the only place a worker
looks for work. score_stale on the lead is what a reader sees, and nothing indexes it: clearing
it then changes no indexed column, so rescoring a lead whose score did not move is a HOT update
(one row version, no index entries) instead of an entry in each of the lead's ~20 indexes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.utils import timezone

from .json_text import json_text
from .models import Lead, PendingActivity


def pending_activity_add(activity: dict[int, datetime]) -> None:
    """Queue {lead id: latest event time} in the caller's transaction: one row for all."""
    if not activity:
        return
    if connection.vendor != "postgresql":
        entries = [{"l": lead_id, "a": at.isoformat()} for lead_id, at in sorted(activity.items())]
        PendingActivity.objects.create(activity=entries, lead_count=len(entries), queued_at=timezone.now())
        return
    sql, params = pending_activity_insert(activity)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def pending_activity_insert(activity: dict[int, datetime]) -> tuple[str, list]:
    """On PostgreSQL: the INSERT that queues `activity` (not empty), and its parameters, to run on
    its own or as the end of a statement of the caller's (the events INSERT of leads.ingest).

    Raw: the ORM's JSONField would encode the document in Python a second time. orjson encodes
    it, times included (as isoformat() writes them), faster than PostgreSQL builds it from rows."""
    entries = [{"l": lead_id, "a": at} for lead_id, at in sorted(activity.items())]
    table = connection.ops.quote_name(PendingActivity._meta.db_table)
    sql = f"INSERT INTO {table} (activity, lead_count, queued_at) VALUES (%s::jsonb, %s, %s)"
    return sql, [json_text(entries), len(entries), timezone.now()]


def pending_activity_sql(*, events: str) -> str:
    """For the events INSERT on PostgreSQL (leads.ingest) when some of its rows may be skipped: a
    data-modifying CTE that queues the row pending_activity_add would, for the events the CTE
    `events` returned (lead_id, occurred_at), and nothing when it returned none. One parameter:
    the queue time. PostgreSQL builds the document from the stored rows in the same statement."""
    table = connection.ops.quote_name(PendingActivity._meta.db_table)
    return (
        f"INSERT INTO {table} (activity, lead_count, queued_at) "
        "SELECT jsonb_agg(jsonb_build_object('l', lead_id, 'a', at) ORDER BY lead_id), count(*), %s "
        f"FROM (SELECT lead_id, max(occurred_at) AS at FROM {events} GROUP BY lead_id) AS per_lead "
        "HAVING count(*) > 0"
    )


# One statement: take (delete) the oldest queue rows nobody else is taking, as many as hold about
# %s leads (at least one row), and lock their leads in id order (two workers sharing leads never
# deadlock), returning the columns asked for and each lead's latest event time. FOR NO KEY
# UPDATE does not conflict with the FOR KEY SHARE that an event INSERT's foreign-key check
# takes: event batches never wait for a worker.
_TAKE_SQL = """
WITH taken AS (
    DELETE FROM {queue} WHERE id IN (
        SELECT id FROM (
            SELECT id, sum(lead_count) OVER (ORDER BY id) - lead_count AS before
            FROM (SELECT id, lead_count FROM {queue} ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED) AS candidates
        ) AS sized WHERE before < %s
    ) RETURNING activity
), per_lead AS (
    SELECT e.l AS lead_id, max(e.a) AS at
    FROM taken AS t, jsonb_to_recordset(t.activity) AS e(l bigint, a timestamptz)
    GROUP BY e.l
)
SELECT {columns}, p.at FROM {leads} AS l JOIN per_lead AS p ON p.lead_id = l.id
ORDER BY l.id FOR NO KEY UPDATE OF l
"""


# A mark's queue rows hold at most this many leads each: a take takes whole rows, and a row of
# 50,000 marked leads would be one giant pass.
MARK_ROW_LEADS = 1_000


def pending_marks_add(lead_ids: Iterable[int]) -> None:
    """Queue these leads for a recompute with no new activity (a mark), in the caller's
    transaction: rows of at most MARK_ROW_LEADS leads."""
    ids = sorted(set(lead_ids))
    if not ids:
        return
    now = timezone.now()
    if connection.vendor != "postgresql":
        PendingActivity.objects.bulk_create(
            PendingActivity(activity=[{"l": lead_id} for lead_id in chunk], lead_count=len(chunk), queued_at=now)
            for chunk in (ids[start : start + MARK_ROW_LEADS] for start in range(0, len(ids), MARK_ROW_LEADS))
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(pending_marks_sql(leads="SELECT unnest(%s::bigint[]) AS id"), [now, ids])


def pending_marks_sql(*, leads: str) -> str:
    """On PostgreSQL: a statement (or data-modifying CTE) that queues the leads whose ids the
    query `leads` returns (column `id`) as pending_marks_add would, and nothing when it returns
    none. Parameters: the queue time, then those of `leads`."""
    table = connection.ops.quote_name(PendingActivity._meta.db_table)
    return (
        f"INSERT INTO {table} (activity, lead_count, queued_at) "
        "SELECT jsonb_agg(jsonb_build_object('l', id) ORDER BY id), count(*), %s "
        f"FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / {MARK_ROW_LEADS} AS chunk "
        f"FROM ({leads}) AS marked) AS numbered GROUP BY chunk"
    )


def pending_mark_one_sql(*, lead: str) -> str:
    """pending_marks_sql for a CTE `lead` that returns at most one lead (a submission's upsert):
    one row, no chunking, and short: the submission's statement must stay within what psycopg
    caches as a prepared statement. One parameter: the queue time."""
    table = connection.ops.quote_name(PendingActivity._meta.db_table)
    return (
        f"INSERT INTO {table} (activity, lead_count, queued_at) "
        f"SELECT jsonb_build_array(jsonb_build_object('l', id)), 1, %s FROM {lead}"
    )


def pending_activity_take(*, leads: int, columns: tuple[str, ...]) -> list[tuple]:
    """Take the oldest queue rows (about `leads` leads' worth) in the caller's transaction and
    lock their leads.

    Returns, per lead still there, its `columns` (Lead field names, the first being "id")
    followed by the latest time of its queued events (None when only marks queued it), in id
    order. The caller writes the leads (scores, last_activity_at) before it commits; if it dies,
    the rows are back in the queue.
    """
    if connection.vendor != "postgresql":
        return _take_portable(leads, columns)
    sql = _TAKE_SQL.format(
        queue=connection.ops.quote_name(PendingActivity._meta.db_table),
        leads=connection.ops.quote_name(Lead._meta.db_table),
        columns=", ".join(f"l.{connection.ops.quote_name(Lead._meta.get_field(c).column)}" for c in columns),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [leads])
        return cursor.fetchall()


def pending_activity_waiting() -> bool:
    """Whether the queue holds rows nobody is taking (a take that found only erased leads
    returns no rows), in the caller's transaction. Rows another worker is taking do not count:
    waiting for them would spin until that worker commits."""
    return PendingActivity.objects.select_for_update(skip_locked=True).values_list("id")[:1].exists()


def _take_portable(leads: int, columns: tuple[str, ...]) -> list[tuple]:
    """The same through the ORM (SQLite: the database lock is the only lock)."""
    queued, before = [], 0
    for row in PendingActivity.objects.order_by("id")[:100]:
        if before >= leads:
            break
        queued.append(row)
        before += row.lead_count
    latest: dict[int, datetime | None] = {}
    for row in queued:
        for entry in row.activity:
            at = datetime.fromisoformat(entry["a"]) if entry.get("a") else None
            if latest.get(entry["l"]) is None or (at is not None and latest[entry["l"]] < at):
                latest[entry["l"]] = at
    PendingActivity.objects.filter(id__in=[row.pk for row in queued]).delete()
    leads = Lead.objects.filter(pk__in=list(latest)).order_by("id").values_list(*columns)
    return [(*row, latest[row[0]]) for row in leads]


def score_is_stale(lead: Lead) -> bool:
    """New events wait to be scored: the lead is marked, or has events in the queue."""
    if lead.score_stale:
        return True
    if connection.vendor != "postgresql":
        return any(entry["l"] == lead.pk for row in PendingActivity.objects.all() for entry in row.activity)
    table = connection.ops.quote_name(PendingActivity._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT EXISTS (SELECT 1 FROM {table} WHERE activity @> %s::jsonb)", [json_text([{"l": lead.pk}])]
        )
        return cursor.fetchone()[0]
