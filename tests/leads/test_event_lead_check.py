"""An event always names a lead that exists (migration 0023): the database refuses an event naming
no lead, and a lead's deletion that would leave its events behind, also when the two race."""

import threading
import time

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from leads.ingest import EventInput, EventStatus, events_ingest, write_once
from leads.models import EngagementEvent, Lead
from tests.factories import LeadFactory


def event_of(lead_id: int, **fields) -> EngagementEvent:
    return EngagementEvent(lead_id=lead_id, event_type="page_view", occurred_at=timezone.now(), **fields)


@pytest.mark.django_db
def test_an_event_naming_no_lead_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        event_of(987654321).save()

    assert not EngagementEvent.objects.exists()


@pytest.mark.django_db
def test_events_cannot_be_moved_to_a_lead_that_does_not_exist():
    lead = LeadFactory()
    event_of(lead.pk).save()

    with pytest.raises(IntegrityError), transaction.atomic():
        EngagementEvent.objects.filter(lead=lead).update(lead_id=987654321)

    assert EngagementEvent.objects.get().lead_id == lead.pk


@pytest.mark.django_db
def test_a_batch_naming_existing_leads_is_stored_and_deleting_a_lead_takes_its_events():
    first, second = LeadFactory(), LeadFactory()
    EngagementEvent.objects.bulk_create([event_of(first.pk), event_of(second.pk), event_of(second.pk)])

    second.delete()  # the ORM cascades to the events first

    assert list(EngagementEvent.objects.values_list("lead_id", flat=True)) == [first.pk]


@pytest.mark.postgres
@pytest.mark.django_db
def test_deleting_a_lead_that_still_has_events_is_refused():
    lead = LeadFactory()
    event_of(lead.pk).save()

    with (
        pytest.raises(IntegrityError, match="would leave events"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM leads_lead WHERE id = %s", [lead.pk])

    assert Lead.objects.filter(pk=lead.pk).exists()


@pytest.mark.postgres
def test_truncating_the_leads_without_their_events_is_refused(transactional_db):
    # transactional_db: a TRUNCATE cannot run in a transaction that holds deferred checks of its own.
    event_of(LeadFactory().pk).save()

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead CASCADE")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_engagementevent CASCADE")

    assert not Lead.objects.exists()


def wait_until_blocked(pid: int) -> None:
    """Until the backend `pid` waits on a lock (it is inside the statement the test races)."""
    with connections["default"].cursor() as cursor:
        for _ in range(500):
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited on a lock")


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


@pytest.mark.postgres
def test_a_deletion_waits_for_a_batch_naming_the_lead_and_then_is_refused(transactional_db):
    lead = LeadFactory()
    results: dict = {}
    batch_stored, commit_batch = threading.Event(), threading.Event()
    deleter_pid: list[int] = []

    def batch():
        with transaction.atomic():
            outcomes = events_ingest(
                items=[(0, EventInput(event_type="page_view", occurred_at=timezone.now(), lead_id=lead.pk))]
            )
            batch_stored.set()
            commit_batch.wait(30)
        return outcomes

    def delete():
        batch_stored.wait(30)
        deleter_pid.append(backend_pid())
        with transaction.atomic():
            Lead.objects.get(pk=lead.pk).delete()  # its events as seen now (none), then the lead: waits

    threads = [in_thread(batch, results, "batch"), in_thread(delete, results, "delete")]
    batch_stored.wait(30)
    while not deleter_pid:
        time.sleep(0.01)
    wait_until_blocked(deleter_pid[0])
    commit_batch.set()
    for thread in threads:
        thread.join(60)

    assert results["batch"][0]["status"] == EventStatus.ACCEPTED
    assert isinstance(results["delete"], IntegrityError)
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert EngagementEvent.objects.filter(lead_id=lead.pk).count() == 1


@pytest.mark.postgres
def test_a_batch_naming_a_lead_being_deleted_waits_and_rejects_it_once_the_deletion_commits(transactional_db):
    lead, other = LeadFactory(), LeadFactory()
    event_of(lead.pk).save()
    results: dict = {}
    deleted, commit_deletion = threading.Event(), threading.Event()
    batch_pid: list[int] = []
    items = [
        (0, EventInput(event_type="page_view", occurred_at=timezone.now(), lead_id=lead.pk)),
        (1, EventInput(event_type="page_view", occurred_at=timezone.now(), lead_id=other.pk)),
    ]

    def delete():
        with transaction.atomic():
            Lead.objects.get(pk=lead.pk).delete()
            deleted.set()
            commit_deletion.wait(30)

    def batch():
        deleted.wait(30)
        batch_pid.append(backend_pid())
        return write_once(work=lambda: (200, {"results": events_ingest(items=items)})).body

    threads = [in_thread(delete, results, "delete"), in_thread(batch, results, "batch")]
    deleted.wait(30)
    while not batch_pid:
        time.sleep(0.01)
    wait_until_blocked(batch_pid[0])  # its lead lookup saw the lead; its INSERT waits on the lock
    commit_deletion.set()
    for thread in threads:
        thread.join(60)

    # The first try met the deleted lead and was rolled back whole; the second rejected its event.
    outcomes = results["batch"]["results"]
    assert [outcome["status"] for outcome in outcomes] == [EventStatus.REJECTED, EventStatus.ACCEPTED]
    assert outcomes[0]["errors"] == {"lead_id": [f"No lead with id {lead.pk}."]}
    assert not EngagementEvent.objects.filter(lead_id=lead.pk).exists()
    assert EngagementEvent.objects.filter(lead_id=other.pk).count() == 1
