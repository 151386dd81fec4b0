"""A backlog is coalesced (issue 9): a take scores each queued lead once however many queue rows
name it, oldest leads first, and puts the leads beyond its pass back at the head of the queue."""

from datetime import UTC, datetime, timedelta

import pytest

from leads.activity import pending_activity_add, pending_activity_take, pending_marks_add
from leads.models import PendingActivity
from scoring.services import scores_recompute_stale
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def take(leads: int) -> dict[int, datetime | None]:
    """{lead id: latest queued event time} of one take."""
    return {lead_id: at for lead_id, at in pending_activity_take(leads=leads, columns=("id",))}


def queue() -> list[tuple[int, list[int]]]:
    """(row id, lead ids in the row's order) of every queue row, oldest first."""
    return [(row.pk, [entry["l"] for entry in row.activity]) for row in PendingActivity.objects.order_by("id")]


def test_a_backlog_naming_the_same_leads_again_and_again_is_scored_once_per_lead():
    ids = [LeadFactory().pk for _ in range(10)]
    for minute in range(25):  # 25 batches, each naming all ten leads
        pending_activity_add({lead_id: T0 + timedelta(minutes=minute, seconds=n) for n, lead_id in enumerate(ids)})

    taken = take(leads=15)  # a pass smaller than the 250 mentions: rows were taken until it was full

    assert taken == {lead_id: T0 + timedelta(minutes=24, seconds=n) for n, lead_id in enumerate(ids)}
    assert queue() == []


def test_a_drain_of_such_a_backlog_rescores_each_lead_once():
    ids = [LeadFactory().pk for _ in range(10)]
    for minute in range(25):
        pending_activity_add({lead_id: T0 + timedelta(minutes=minute) for lead_id in ids})

    outcome = scores_recompute_stale(batch_size=15)

    assert outcome.leads == 10
    assert queue() == []


def test_the_leads_beyond_a_pass_go_back_to_the_head_of_the_queue_oldest_first():
    a = [LeadFactory().pk for _ in range(6)]
    b = [LeadFactory().pk for _ in range(3)]
    pending_activity_add({lead_id: T0 for lead_id in a})  # the oldest row
    pending_activity_add({lead_id: T0 + timedelta(minutes=1) for lead_id in [*a[4:], *b]})
    first_row = queue()[0][0]

    assert set(take(leads=4)) == set(a[:4])
    # The rest, in one row under the oldest id: a[4:] came with the first row, b with the second.
    assert queue() == [(first_row, [*a[4:], *b])]

    pending_activity_add({b[2]: T0 + timedelta(minutes=5)})  # a newer row: read after the put-back
    newest = LeadFactory().pk
    pending_activity_add({newest: T0 + timedelta(minutes=6)})

    assert take(leads=3) == {
        a[4]: T0 + timedelta(minutes=1),  # its latest time: the second row's
        a[5]: T0 + timedelta(minutes=1),
        b[0]: T0 + timedelta(minutes=1),
    }
    assert take(leads=10) == {
        b[1]: T0 + timedelta(minutes=1),
        b[2]: T0 + timedelta(minutes=5),
        newest: T0 + timedelta(minutes=6),
    }
    assert queue() == []


def test_a_mark_put_back_stays_a_mark_and_a_new_event_gives_it_a_time():
    marked = [LeadFactory().pk for _ in range(3)]
    pending_marks_add(marked)

    assert take(leads=1) == {marked[0]: None}
    pending_activity_add({marked[2]: T0})

    assert take(leads=5) == {marked[1]: None, marked[2]: T0}


def test_a_take_reads_rows_until_they_name_the_buffer_limit(monkeypatch):
    from leads import activity

    monkeypatch.setattr(activity, "BUFFER_LEADS", 5)
    rows = [[LeadFactory().pk for _ in range(3)] for _ in range(4)]
    for n, ids in enumerate(rows):
        pending_activity_add({lead_id: T0 + timedelta(minutes=n) for lead_id in ids})
    ids_of_rows = [row_id for row_id, _ in queue()]

    # The first two rows name 6 leads: the third row would pass the limit of 5 and stays.
    assert set(take(leads=2)) == set(rows[0][:2])
    assert queue() == [(ids_of_rows[0], [rows[0][2], *rows[1]]), (ids_of_rows[2], rows[2]), (ids_of_rows[3], rows[3])]


def test_a_backlog_naming_only_removed_leads_is_drained_without_lingering(monkeypatch):
    """Rows whose leads were erased or merged away score nobody: the drain does not wait for more
    events of those leads after each take (0.2 s a take: a long backlog would take minutes)."""
    import scoring.services

    waits: list[float] = []
    monkeypatch.setattr(scoring.services.time, "sleep", waits.append)
    gone = [LeadFactory() for _ in range(3)]
    for row in range(40):  # more rows than a take reads
        pending_activity_add({lead.pk: T0 + timedelta(minutes=row) for lead in gone})
    for lead in gone:
        lead.delete()
    live = LeadFactory()
    pending_activity_add({live.pk: T0})

    outcome = scores_recompute_stale(batch_size=15, linger=0.2)

    assert outcome.leads == 1
    assert queue() == []
    assert len(waits) <= 1  # at most after the take that scored the live lead
