"""The broker (Redis) does not answer: what a request queues after its commit is not lost, and the
request neither fails nor waits for it (the broker timeouts in settings bound every attempt).

Not marked `faults`: a broker URL nobody listens on is a real, instant outage, with no server to
stop, so these run in the main suite (on SQLite too). The full outage under load, with a worker,
is tests/faults/test_redis_outage.py.
"""

import time

import pytest
from rest_framework.test import APIClient

from leads.api.auth import api_key_create
from leads.models import Lead, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from leads.services import lead_claim, lead_transition
from scoring import selectors, services
from scoring.models import RescoreStatus
from tests.factories import LeadFactory
from tests.live_services import free_port, use_broker

# A request must not wait on the broker: its connect and publish give up within ~2 s (settings).
NO_WAITING_SECONDS = 3


@pytest.fixture
def broker_down():
    """The Celery app pointed at a Redis port nobody listens on, out of eager mode."""
    from leadcrm.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    use_broker(app, f"redis://127.0.0.1:{free_port()}/0")
    yield
    use_broker(app, saved[0])
    app.conf.task_always_eager = saved[1]


@pytest.mark.django_db(transaction=True)
def test_a_submission_is_stored_and_answered_while_the_broker_is_down(broker_down):
    key = api_key_create(name="forms", scopes=["submit"])
    started = time.monotonic()
    response = APIClient().post(
        "/api/v1/submissions/",
        {"form_name": "demo", "email": "outage@example.com"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
    )
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < NO_WAITING_SECONDS
    # Stored and marked for scoring: the sweeper scores it once the broker is back.
    assert Lead.objects.filter(email="outage@example.com", score_stale=True).exists()


@pytest.mark.django_db
def test_publishing_a_rule_set_while_the_broker_is_down_leaves_the_rescore_to_the_sweeper(
    broker_down, django_capture_on_commit_callbacks
):
    services.ruleset_ensure_published()
    draft = services.ruleset_create_draft()
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.ruleset_publish(ruleset_id=draft.pk)  # its task cannot be queued
    assert time.monotonic() - started < NO_WAITING_SECONDS
    job.refresh_from_db()
    assert job.status == RescoreStatus.RUNNING
    # The sweeper restarts a running job nobody advanced (after a minute in production).
    assert job.pk in selectors.rescore_jobs_stalled(older_than_seconds=-1)


@pytest.mark.django_db
def test_a_claim_while_the_broker_is_down_keeps_its_webhook_due_in_the_outbox(
    broker_down, sales_rep, django_capture_on_commit_callbacks
):
    WebhookEndpoint.objects.create(name="sync", url="http://127.0.0.1:9/", secret="s", events=["handoff.accepted"])
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="demo")
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        lead_claim(lead_id=lead.pk, user=sales_rep)  # its delivery task cannot be queued
    assert time.monotonic() - started < NO_WAITING_SECONDS
    lead.refresh_from_db()
    assert lead.owner == sales_rep
    # Pending and due: the webhook sweeper (every minute) queues it once the broker is back.
    delivery = WebhookDelivery.objects.get(event="handoff.accepted")
    assert delivery.status == WebhookDeliveryStatus.PENDING
    assert delivery.next_attempt_at is not None
