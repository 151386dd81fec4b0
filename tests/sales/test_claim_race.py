"""50 reps click Claim on one queue row at the same moment, on PostgreSQL, through the page."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from leads.handoffs import handoff_sla_sweep
from leads.models import AuditAction, AuditEntry, Handoff, HandoffStatus, Notification, StageChange
from tests.factories import UserFactory, lead_in_stage
from tests.sales.conftest import HTMX


# transactional_db: each thread's request commits on its own connection, as in production. No
# serialized rollback: the autouse fixture in tests/conftest.py puts the role groups back before
# every transactional test (serialized rollback after a plain flush collides on content types).
@pytest.mark.postgres
@pytest.mark.parametrize("door", ["page", "api"])
def test_fifty_concurrent_claims_make_one_owner(transactional_db, door):
    lead = lead_in_stage("sql")
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    changes_before = StageChange.objects.filter(lead=lead).count()
    reps = [UserFactory(username=f"racer{i}", roles=["sales"]) for i in range(50)]
    clients = []
    for rep in reps:
        client = Client()
        client.force_login(rep)
        clients.append(client)
    url = reverse("sales-claim", args=[handoff.pk]) if door == "page" else f"/api/v1/handoffs/{handoff.pk}/accept/"
    headers = HTMX if door == "page" else {}
    barrier = threading.Barrier(50)
    answers: list = [None] * 50

    def claim(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = clients[i].post(url, **headers)
            answers[i] = (response.status_code, response.content.decode())
        except Exception as error:
            answers[i] = (None, repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a claim hung (deadlock?)"

    statuses = [status for status, _ in answers]
    assert statuses.count(200) == 1, answers
    assert statuses.count(409) == 49, answers
    lead.refresh_from_db()
    winner = reps[statuses.index(200)]
    assert lead.owner == winner
    # One audit row of the claim: the handoff accepted by the winner, and no other handoff written.
    assert list(Handoff.objects.filter(lead=lead).values_list("status", "decided_by")) == [
        (HandoffStatus.ACCEPTED, winner.pk)
    ]
    assert StageChange.objects.filter(lead=lead).count() == changes_before
    # And one entry in the audit log, naming the winner.
    claims = AuditEntry.objects.filter(action=AuditAction.LEAD_CLAIMED, target_id=lead.pk)
    assert list(claims.values_list("actor", flat=True)) == [winner.pk]
    refusals = [body for status, body in answers if status == 409]
    if door == "page":
        assert all(f"Already claimed by {winner.get_full_name()}" in body for body in refusals)
    else:
        # Refused before the lock (the handoff was already accepted) or by the conditional UPDATE.
        name = winner.get_full_name()
        assert all(f'"Already claimed by {name}' in body or f"the lead is with {name}." in body for body in refusals), (
            refusals
        )


@pytest.mark.postgres
def test_concurrent_sla_sweeps_mark_and_notify_each_breach_once(transactional_db):
    reps = [UserFactory(username=f"sweeper{i}", roles=["sales"]) for i in range(3)]
    leads = [lead_in_stage("sql") for _ in range(10)]
    Handoff.objects.filter(lead__in=leads).update(due_at=timezone.now() - timedelta(minutes=5))
    barrier = threading.Barrier(8)
    marked: list = [None] * 8

    def sweep(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            marked[i] = handoff_sla_sweep()
        except Exception as error:
            marked[i] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert all(isinstance(n, int) for n in marked), marked
    assert sum(marked) == 10
    assert Handoff.objects.filter(lead__in=leads, sla_breached_at__isnull=False).count() == 10
    assert Notification.objects.count() == 10 * len(reps)
