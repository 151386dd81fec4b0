"""Outgoing webhooks: signed, delivered after commit only, retried with backoff, paused when failing."""

import json
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from leads.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEvent
from leads.services import lead_claim, lead_transition
from leads.webhooks import (
    backoff_seconds,
    signature_header,
    signature_verify,
    webhook_deliveries_sweep,
    webhook_delivery_attempt,
    webhook_endpoint_resume,
)
from tests.data.conftest import RECEIVER_SECRET
from tests.factories import LeadFactory

ALL_EVENTS = [choice.value for choice in WebhookEvent]


def endpoint_for(receiver, **kwargs) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        name="CRM sync", url=receiver.url, secret=RECEIVER_SECRET, events=kwargs.pop("events", ALL_EVENTS), **kwargs
    )


def make_due(delivery_id: int) -> None:
    WebhookDelivery.objects.filter(pk=delivery_id).update(next_attempt_at=timezone.now())


# --- Signing ----------------------------------------------------------------------------------


def test_a_signature_verifies_with_the_secret_and_not_otherwise():
    body = b'{"type":"lead.stage_changed"}'
    header = signature_header(secret="s3cret", body=body, timestamp=int(time.time()))
    assert signature_verify(secret="s3cret", header=header, body=body)
    assert not signature_verify(secret="other", header=header, body=body)
    assert not signature_verify(secret="s3cret", header=header, body=body + b" ")
    assert not signature_verify(secret="s3cret", header="garbage", body=body)


def test_it_rejects_an_old_timestamp_as_a_replay():
    body = b"{}"
    header = signature_header(secret="s", body=body, timestamp=int(time.time()) - 3600)
    assert not signature_verify(secret="s", header=header, body=body)


def test_backoff_doubles_up_to_its_cap(settings):
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    settings.WEBHOOK_BACKOFF_MAX_SECONDS = 3600
    assert [backoff_seconds(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


# --- After commit only ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_committed_move_is_delivered_signed_to_a_real_receiver(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    lead = LeadFactory(email="ada@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing")
    received = receiver.wait_for(1)
    assert [(r.event, r.signature_ok) for r in received] == [("lead.stage_changed", True)]
    body = received[0].body
    assert body["type"] == "lead.stage_changed"
    assert body["data"]["lead"]["email"] == "ada@example.com"
    assert body["data"]["change"]["from_stage"] == "lead"
    assert body["data"]["change"]["to_stage"] == "mql"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDeliveryStatus.SUCCEEDED
    assert delivery.attempts == 1
    assert delivery.last_status_code == 200
    assert delivery.last_response_ms is not None
    assert received[0].headers["leadcrm-event-id"] == str(delivery.event_id)


@pytest.mark.django_db
def test_a_handoff_is_announced_with_the_move_that_opened_it(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="asked for a demo")
    received = receiver.wait_for(2)
    assert sorted(r.event for r in received) == ["handoff.opened", "lead.stage_changed"]
    opened = next(r for r in received if r.event == "handoff.opened")
    assert opened.body["data"]["handoff"]["kind"] == "marketing_to_sales"


@pytest.mark.django_db
def test_an_endpoint_gets_only_the_events_it_subscribed_to(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver, events=["handoff.opened"])
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="demo")
    assert [r.event for r in receiver.wait_for(1)] == ["handoff.opened"]
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.django_db
def test_a_rolled_back_move_is_never_delivered(receiver, django_capture_on_commit_callbacks):
    endpoint_for(receiver)
    lead = LeadFactory()
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing")
        raise RuntimeError("the caller fails after the move")
    assert callbacks == []
    time.sleep(0.2)
    assert receiver.received == []
    assert WebhookDelivery.objects.count() == 0


# --- Retries, log and pause -------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_receiver_sees_each_retry_until_the_last_attempt(failing_receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_BACKOFF_BASE_SECONDS = 30
    endpoint = endpoint_for(failing_receiver)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="6b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={"lead": {"id": 1}}, next_attempt_at=timezone.now(),
    )  # fmt: skip

    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("retrying", 1, 500)
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=25)
    # Not due yet: a duplicate task sends nothing.
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(failing_receiver.received) == 1

    make_due(delivery.pk)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) == 60
    make_due(delivery.pk)
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert len(failing_receiver.received) == 3
    assert all(r.signature_ok for r in failing_receiver.received)
    assert len({r.body["id"] for r in failing_receiver.received}) == 1  # one event id across retries


@pytest.mark.django_db
def test_an_unreachable_endpoint_logs_the_error():
    endpoint = WebhookEndpoint.objects.create(name="gone", url="http://127.0.0.1:9/x", secret="s", events=ALL_EVENTS)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="6b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={}, next_attempt_at=timezone.now(),
    )  # fmt: skip
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is not None
    delivery.refresh_from_db()
    assert delivery.last_status_code is None
    assert "Connection refused" in delivery.last_error or "Error" in delivery.last_error


@pytest.mark.django_db
def test_an_endpoint_that_keeps_failing_is_paused_with_the_reason_and_resumed_by_an_admin(
    failing_receiver, receiver, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_PAUSE_AFTER_FAILURES = 3
    settings.WEBHOOK_MAX_ATTEMPTS = 10
    endpoint = endpoint_for(failing_receiver)
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="6b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={}, next_attempt_at=timezone.now(),
    )  # fmt: skip
    for _ in range(3):
        make_due(delivery.pk)
        webhook_delivery_attempt(delivery_id=delivery.pk)
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert endpoint.paused_at is not None
    assert "3 failed attempts in a row" in endpoint.pause_reason
    assert "HTTP 500" in endpoint.pause_reason
    assert delivery.status == WebhookDeliveryStatus.HELD

    # A new event for a paused endpoint is held, not sent.
    lead = LeadFactory()
    with django_capture_on_commit_callbacks(execute=True):
        lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing")
    assert len(failing_receiver.received) == 3
    assert WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.HELD).count() == 2

    # The admin fixes the URL and resumes: the held deliveries go out.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_endpoint_resume(endpoint_id=endpoint.pk) == 2
    assert len(receiver.wait_for(2)) == 2
    assert WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.SUCCEEDED).count() == 2


@pytest.mark.django_db
def test_the_admin_shows_endpoints_and_the_delivery_log(admin_client_for_data, receiver):
    endpoint = endpoint_for(receiver)
    endpoint.paused_at = timezone.now()
    endpoint.pause_reason = "Paused after 20 failed attempts in a row; last: HTTP 500"
    endpoint.save()
    page = admin_client_for_data.get("/admin/leads/webhookendpoint/")
    assert page.status_code == 200
    assert b"Paused after 20 failed attempts" in page.content
    assert admin_client_for_data.get("/admin/leads/webhookdelivery/").status_code == 200
    assert admin_client_for_data.get("/admin/leads/erasure/").status_code == 200


# --- A real worker on PostgreSQL and Redis ----------------------------------------------------


@pytest.fixture
def fast_retry_worker(transactional_db, monkeypatch, request):
    monkeypatch.setenv("WEBHOOK_BACKOFF_BASE_SECONDS", "0.5")
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "3")
    return request.getfixturevalue("live_celery_worker")


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_real_worker_delivers_and_retries_with_backoff(receiver, failing_receiver, fast_retry_worker):
    good = endpoint_for(receiver, events=["lead.stage_changed"])
    bad = endpoint_for(failing_receiver, events=["lead.stage_changed"])
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing")  # commits: no test transaction

    assert [r.signature_ok for r in receiver.wait_for(1)] == [True]
    attempts = failing_receiver.wait_for(3, timeout=30)
    assert len(attempts) == 3
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        failed = WebhookDelivery.objects.get(endpoint=bad)
        if failed.status == WebhookDeliveryStatus.FAILED:
            break
        time.sleep(0.1)
    assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", 3, 500)
    assert WebhookDelivery.objects.get(endpoint=good).status == WebhookDeliveryStatus.SUCCEEDED
    assert json.dumps(attempts[0].body) == json.dumps(attempts[2].body)


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_real_worker_never_delivers_a_rolled_back_move(receiver, fast_retry_worker):
    endpoint_for(receiver)
    lead = LeadFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing")
        raise RuntimeError("rolled back")
    lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="marketing", reason="the real one")
    received = receiver.wait_for(1)
    time.sleep(1.0)
    assert len(receiver.received) == 1
    assert received[0].body["data"]["change"]["reason"] == "the real one"


@pytest.mark.django_db
def test_a_claim_is_announced_as_handoff_accepted(receiver, sales_rep, django_capture_on_commit_callbacks):
    endpoint_for(receiver, events=["handoff.accepted"])
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor_label="marketing", reason="demo")
    with django_capture_on_commit_callbacks(execute=True):
        lead_claim(lead_id=lead.pk, user=sales_rep)
    [accepted] = receiver.wait_for(1)
    assert accepted.event == "handoff.accepted"
    assert accepted.body["data"]["lead"]["owner_id"] == sales_rep.pk
    assert accepted.body["data"]["handoff"]["status"] == "accepted"


@pytest.mark.django_db
def test_the_sweeper_sends_due_retries_and_frees_deliveries_a_killed_worker_left_sending(
    receiver, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(receiver)
    long_ago = timezone.now() - timedelta(hours=1)
    due = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="6b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={}, status="retrying", attempts=1, next_attempt_at=long_ago,
    )  # fmt: skip
    stuck = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="7b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={}, status="sending", attempts=1, next_attempt_at=long_ago,
    )  # fmt: skip
    later = WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="8b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={}, status="retrying", attempts=1, next_attempt_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    assert webhook_deliveries_sweep() == 2
    assert len(receiver.wait_for(2)) == 2
    statuses = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "succeeded", stuck.pk: "succeeded", later.pk: "retrying"}
