"""Nudges: a burst of stored events queues one drain and asks Redis once; a broker outage never
fails the request; an event whose nudge was skipped is still taken by the drain."""

import threading
import time

import pytest
import redis
from django.db import connection

from leads.models import Lead
from leads.services import events_record
from leads.signals import events_stored
from scoring import services
from scoring.tasks import recompute_stale_scores_task
from tests.factories import LeadFactory

from .helpers import event, store_events_quietly


class FakeRedis:
    def __init__(self, fail=False):
        self.keys = {}
        self.fail = fail
        self.asked = 0  # round trips made to set the key

    def set(self, key, value, nx=False, ex=None):
        self.asked += 1
        if self.fail:
            raise redis.ConnectionError("Connection refused")
        if nx and key in self.keys:
            return None
        self.keys[key] = value
        return True

    def delete(self, key):
        if self.fail:
            raise redis.ConnectionError("Connection refused")
        self.keys.pop(key, None)


@pytest.fixture
def broker(monkeypatch):
    """A non-eager Celery app whose publishes are counted instead of sent."""
    fake = FakeRedis()
    sent = []
    monkeypatch.setattr(recompute_stale_scores_task.app.conf, "task_always_eager", False)
    monkeypatch.setattr(recompute_stale_scores_task.app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(services, "_redis_client", lambda url: fake)
    monkeypatch.setattr(services, "_nudge_key_seen", {})  # this process has seen no key yet
    monkeypatch.setattr(recompute_stale_scores_task, "apply_async", lambda *a, **kw: sent.append(kw))
    fake.sent = sent
    return fake


def announce(lead_ids):
    events_stored.send(sender=Lead, lead_ids=lead_ids)


def test_a_burst_of_1000_events_for_one_lead_queues_one_drain_and_asks_redis_once(broker):
    for _ in range(1000):
        announce([42])
    assert len(broker.sent) == 1
    assert broker.asked == 1  # the burst lasts less than NUDGE_TRUST_SECONDS


def test_a_process_that_saw_the_key_set_asks_again_once_its_trust_runs_out(broker):
    broker.keys[services.NUDGE_KEY] = "1"  # another process queued a drain
    announce([1])
    announce([2])
    assert (broker.asked, broker.sent) == (1, [])
    time.sleep(services.NUDGE_TRUST_SECONDS)
    announce([3])
    assert (broker.asked, broker.sent) == (2, [])  # the key is still set: still no second drain


def test_a_drain_that_finished_lets_the_next_event_queue_another(broker, monkeypatch):
    announce([1])
    services._release_nudge_key()
    time.sleep(services.NUDGE_TRUST_SECONDS)
    announce([1])
    announce([2])
    assert len(broker.sent) == 2
    # Another process, which never saw the key, queues a drain at once.
    services._release_nudge_key()
    monkeypatch.setattr(services, "_nudge_key_seen", {})
    announce([3])
    assert len(broker.sent) == 3


def test_a_failed_publish_frees_the_key_for_the_next_nudge(broker, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("broker down")

    monkeypatch.setattr(recompute_stale_scores_task, "apply_async", refuse)
    announce([1])  # does not raise
    assert services.NUDGE_KEY not in broker.keys


def test_redis_down_never_fails_the_caller(broker, caplog):
    broker.fail = True
    announce([1, 2, 3])
    assert broker.sent == []
    assert "the sweeper will do it" in caplog.text


def test_eager_mode_drains_in_process(db, django_capture_on_commit_callbacks):
    lead = LeadFactory(job_title="Engineer", company_size=10, industry="Retail", country="BR")
    with django_capture_on_commit_callbacks(execute=True):
        events_record(lead=lead, events=[event("email_click")])
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score_stale) == (3, False)


def test_the_nudged_drain_scores_the_stale_leads_and_frees_the_key(db, broker):
    lead = LeadFactory(job_title="Engineer", company_size=10, industry="Retail", country="BR")
    store_events_quietly(lead, [event("email_click")] * 2)
    announce([lead.pk])
    assert services.NUDGE_KEY in broker.keys

    outcome = services.scores_drain(time_budget=5)

    assert (outcome.leads, outcome.more) == (1, False)
    assert services.NUDGE_KEY not in broker.keys
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score_stale) == (6, False)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_whose_nudge_was_skipped_after_the_key_was_freed_is_scored_by_that_drain(broker, monkeypatch):
    """The race the skipped nudge must not lose. This process found the key set a moment ago; the
    drain frees the key; then this process commits an event and does not ask (its trust has not run
    out). The drain's closing pass starts NUDGE_TRUST_SECONDS after it freed the key, so it takes
    the event; a closing pass right after freeing the key would have found nothing, left the lead
    stale and queued no drain for it."""
    monkeypatch.setattr(services, "NUDGE_TRUST_SECONDS", 1.0)  # room for a slow machine
    lead = LeadFactory(job_title="Engineer", company_size=10, industry="Retail", country="BR")
    announce([lead.pk])  # sets the key and queues the drain, which the thread below runs
    freed = threading.Event()
    release = services._release_nudge_key

    def release_and_tell():
        release()
        freed.set()

    monkeypatch.setattr(services, "_release_nudge_key", release_and_tell)
    drained = []

    def drain():
        try:
            drained.append(services.scores_drain(time_budget=10))
        finally:
            connection.close()

    worker = threading.Thread(target=drain, daemon=True)
    worker.start()
    assert freed.wait(10)
    time.sleep(0.3)
    events_record(lead=lead, events=[event("email_click")])  # commits, then its nudge is skipped
    worker.join(10)

    assert not worker.is_alive()
    assert (broker.asked, len(broker.sent), services.NUDGE_KEY in broker.keys) == (1, 1, False)
    lead.refresh_from_db()
    assert (lead.engagement_score, lead.score_stale) == (3, False)
    assert drained[0].leads == 1
