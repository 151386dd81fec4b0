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


# A take reads at most this many of the oldest queue rows (a batch's row names up to 1,000 leads).
TAKE_ROWS = 30
# ... and takes as many of them as name at most this many leads, counting each lead once.
BUFFER_LEADS = 20_000

# One statement: take (delete) the oldest queue rows nobody else is taking, score the oldest
# `leads` of the leads they name, and put the rest back as one row at the head of the queue.
#
# Coalescing: a backlog of event batches names the same active leads again and again. Taking only
# rows that hold about a pass's worth of leads scored a lead once per row it appeared in (a
# backlog of 965 batches on 20,000 leads: ~945,000 rescores). A take now reads up to TAKE_ROWS
# rows and takes those that name at most BUFFER_LEADS leads between them (a lead counted once);
# the leads beyond the pass go back as one row under the oldest id it took, so the next take
# reads them first and folds the next rows' mentions of the same leads into them (the same
# backlog: a rescore per lead per ~20,000-lead sweep). Each entry keeps "o", the id of the row it
# first came in: the oldest leads are scored first, as when each row was taken whole. When rows
# name new leads each time, a take reads the put-back row plus a row or two: the same work as
# before, plus reading and writing that row.
#
# The leads are locked in id order (two workers sharing leads never deadlock), returning the
# columns asked for and each lead's latest event time. FOR NO KEY UPDATE does not conflict with
# the FOR KEY SHARE that an event INSERT's foreign-key check takes: event batches never wait for
# a worker. The put-back row reuses an id this statement deleted: no other row can hold it.
_TAKE_SQL = """
WITH candidates AS (
    SELECT id, activity, queued_at FROM {queue} ORDER BY id LIMIT {rows} FOR UPDATE SKIP LOCKED
), entries AS (
    SELECT c.id AS row_id, e.l AS lead_id, e.a AS at, coalesce(e.o, c.id) AS o
    FROM candidates AS c, jsonb_to_recordset(c.activity) AS e(l bigint, a timestamptz, o bigint)
), firsts AS (
    SELECT row_id, count(*) AS new_leads FROM (
        SELECT min(row_id) AS row_id FROM entries GROUP BY lead_id
    ) AS first_rows GROUP BY row_id
), sized AS (
    SELECT c.id, coalesce(sum(f.new_leads) OVER (ORDER BY c.id), 0) - coalesce(f.new_leads, 0) AS before
    FROM candidates AS c LEFT JOIN firsts AS f ON f.row_id = c.id
), taken AS (
    DELETE FROM {queue} WHERE id IN (SELECT id FROM sized WHERE before < {buffer})
    RETURNING id, queued_at
), ranked AS (
    SELECT lead_id, at, o, row_number() OVER (ORDER BY o, lead_id) AS n FROM (
        SELECT e.lead_id, max(e.at) AS at, min(e.o) AS o
        FROM entries AS e JOIN taken AS t ON t.id = e.row_id GROUP BY e.lead_id
    ) AS per_lead
), put_back AS (
    INSERT INTO {queue} (id, activity, lead_count, queued_at)
    SELECT (SELECT min(id) FROM taken),
        jsonb_agg(jsonb_strip_nulls(jsonb_build_object('l', lead_id, 'a', at, 'o', o)) ORDER BY o, lead_id),
        count(*), (SELECT min(queued_at) FROM taken)
    FROM ranked WHERE n > %s HAVING count(*) > 0
)
SELECT {columns}, r.at FROM {leads} AS l JOIN ranked AS r ON r.lead_id = l.id
WHERE r.n <= %s ORDER BY l.id FOR NO KEY UPDATE OF l
"""

# A mark's queue rows hold at most this many leads each: a take reads whole rows, and a row of
# 50,000 marked leads would be read (and put back) whole by every take until the last of them.
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
    """Take the oldest `leads` queued leads in the caller's transaction and lock them (the rest
    of the rows taken goes back to the head of the queue: see _TAKE_SQL).

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
        rows=TAKE_ROWS,
        buffer=BUFFER_LEADS,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [leads, leads])
        return cursor.fetchall()


def pending_activity_waiting() -> bool:
    """Whether the queue holds rows nobody is taking (a take that found only erased leads
    returns no rows), in the caller's transaction. Rows another worker is taking do not count:
    waiting for them would spin until that worker commits."""
    return PendingActivity.objects.select_for_update(skip_locked=True).values_list("id")[:1].exists()


def _take_portable(leads: int, columns: tuple[str, ...]) -> list[tuple]:
    """The same through the ORM (SQLite: the database lock is the only lock)."""
    queued: list[PendingActivity] = []
    named: set[int] = set()
    for row in PendingActivity.objects.order_by("id")[:TAKE_ROWS]:
        if len(named) >= BUFFER_LEADS:
            break
        queued.append(row)
        named.update(entry["l"] for entry in row.activity)
    latest: dict[int, datetime | None] = {}
    first: dict[int, int] = {}
    for row in queued:
        for entry in row.activity:
            lead_id = entry["l"]
            at = datetime.fromisoformat(entry["a"]) if entry.get("a") else None
            if latest.get(lead_id) is None or (at is not None and latest[lead_id] < at):
                latest[lead_id] = at
            first[lead_id] = min(first.get(lead_id, row.pk), entry.get("o", row.pk))
    ranked = sorted(latest, key=lambda lead_id: (first[lead_id], lead_id))
    PendingActivity.objects.filter(id__in=[row.pk for row in queued]).delete()
    if rest := ranked[leads:]:
        PendingActivity.objects.create(
            id=queued[0].pk,
            activity=[_entry(lead_id, latest[lead_id], first[lead_id]) for lead_id in rest],
            lead_count=len(rest),
            queued_at=min(row.queued_at for row in queued),
        )
    chosen = ranked[:leads]
    rows = Lead.objects.filter(pk__in=chosen).order_by("id").values_list(*columns)
    return [(*row, latest[row[0]]) for row in rows]


def _entry(lead_id: int, at: datetime | None, first: int) -> dict:
    entry = {"l": lead_id, "o": first}
    if at is not None:
        entry["a"] = at.isoformat()
    return entry


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
