"""Integration: Celery beat and a real worker (tests/live_services.py) run the SLA sweep on schedule."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from leads.models import Handoff, HandoffStatus, Notification
from tests.factories import UserFactory, lead_in_stage

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.celery_worker]


@pytest.fixture
def sweep_every_second(monkeypatch):
    # Read by leadcrm/settings.py in the beat subprocess (tests/live_services.py copies os.environ).
    monkeypatch.setenv("SLA_SWEEP_SECONDS", "1")


def test_beat_marks_a_breach_and_notifies_the_team(sweep_every_second, live_celery_worker, live_celery_beat):
    Group.objects.get_or_create(name="sales")  # the live fixtures flush the tables the migrations filled
    reps = [UserFactory(username=f"live{i}", roles=["sales"]) for i in range(2)]
    lead = lead_in_stage("sql", first_name="Overdue", last_name="Lead")
    Handoff.objects.filter(lead=lead).update(due_at=timezone.now() - timedelta(minutes=1))

    deadline = time.monotonic() + 45
    while time.monotonic() < deadline and Notification.objects.count() < len(reps):
        time.sleep(0.5)

    handoff = Handoff.objects.get(lead=lead)
    assert handoff.status == HandoffStatus.OPEN
    assert handoff.sla_breached_at is not None, (
        live_celery_beat.log_tail() if hasattr(live_celery_beat, "log_tail") else ""
    )
    assert sorted(n.recipient.username for n in Notification.objects.all()) == ["live0", "live1"]
    time.sleep(2)  # more beats: still one notification per person
    assert Notification.objects.count() == len(reps)
