"""A batch of events whose lead is deleted (erased, merged away) while the batch is being written:
the event of that lead is rejected, the others are stored, nothing is left naming a missing lead,
and the client gets an answer, not an error.

The events' foreign key is checked at commit. A batch that looked a lead up before the lead's
deletion committed fails there with a foreign-key violation; write_once runs it again, and its
lookups then see the lead gone."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from leads.ingest import EventInput, EventStatus, events_ingest, write_once
from leads.models import EngagementEvent, Lead
from tests.factories import LeadFactory

pytestmark = pytest.mark.postgres


def in_thread(work, results: dict, key: str) -> threading.Thread:
    def run():
        try:
            results[key] = work()
        except Exception as exc:  # the test asserts on what was raised
            results[key] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked(pid: int) -> None:
    """Until the backend `pid` waits on a lock."""
    with connections["default"].cursor() as cursor:
        for _ in range(500):
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on a lock")


def batch_for(*leads: Lead) -> list[tuple[int, EventInput]]:
    return [
        (index, EventInput(event_type="page_view", occurred_at=timezone.now(), lead_id=lead.pk))
        for index, lead in enumerate(leads)
    ]


def write(items):
    return write_once(work=lambda: (200, {"results": events_ingest(items=items)})).body["results"]


def test_a_batch_committing_while_its_lead_is_being_deleted_rejects_that_event(transactional_db):
    lead, other = LeadFactory(), LeadFactory()
    EngagementEvent.objects.create(lead=lead, event_type="page_view", occurred_at=timezone.now())
    results: dict = {}
    deleted, commit_deletion = threading.Event(), threading.Event()
    batch_pid: list[int] = []

    def delete():
        with transaction.atomic():
            Lead.objects.get(pk=lead.pk).delete()
            deleted.set()
            commit_deletion.wait(30)

    def batch():
        deleted.wait(30)
        batch_pid.append(backend_pid())
        return write(batch_for(lead, other))

    threads = [in_thread(delete, results, "delete"), in_thread(batch, results, "batch")]
    deleted.wait(30)
    while not batch_pid:
        time.sleep(0.01)
    wait_until_blocked(batch_pid[0])  # it saw the lead; its commit's check waits for the deletion
    commit_deletion.set()
    for thread in threads:
        thread.join(60)

    outcomes = results["batch"]
    assert [outcome["status"] for outcome in outcomes] == [EventStatus.REJECTED, EventStatus.ACCEPTED]
    assert outcomes[0]["errors"] == {"lead_id": [f"No lead with id {lead.pk}."]}
    assert not Lead.objects.filter(pk=lead.pk).exists()
    assert not EngagementEvent.objects.filter(lead_id=lead.pk).exists()
    assert EngagementEvent.objects.filter(lead_id=other.pk).count() == 1


def test_a_batch_whose_lead_is_deleted_before_it_commits_rejects_that_event(transactional_db):
    lead, other = LeadFactory(), LeadFactory()
    results: dict = {}
    stored, commit_batch = threading.Event(), threading.Event()
    attempts: list[int] = []

    def work():
        attempts.append(1)
        outcomes = events_ingest(items=batch_for(lead, other))
        if len(attempts) == 1:  # the first try waits, uncommitted, while the lead is deleted
            stored.set()
            commit_batch.wait(30)
        return 200, {"results": outcomes}

    thread = in_thread(lambda: write_once(work=work).body["results"], results, "batch")
    stored.wait(30)
    Lead.objects.get(pk=lead.pk).delete()  # commits: the batch's events are not visible to it yet
    commit_batch.set()
    thread.join(60)

    outcomes = results["batch"]
    assert len(attempts) == 2
    assert [outcome["status"] for outcome in outcomes] == [EventStatus.REJECTED, EventStatus.ACCEPTED]
    assert not EngagementEvent.objects.filter(lead_id=lead.pk).exists()
    assert EngagementEvent.objects.filter(lead_id=other.pk).count() == 1
