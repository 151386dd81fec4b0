"""Nudges: a burst of stored events queues one drain; a broker outage never fails the request."""

import pytest
import redis

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

    def set(self, key, value, nx=False, ex=None):
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
    monkeypatch.setattr(recompute_stale_scores_task, "apply_async", lambda *a, **kw: sent.append(kw))
    fake.sent = sent
    return fake


def announce(lead_ids):
    events_stored.send(sender=Lead, lead_ids=lead_ids)


def test_a_burst_of_1000_events_for_one_lead_queues_one_drain(broker):
    for _ in range(1000):
        announce([42])
    assert len(broker.sent) == 1


def test_a_drain_that_finished_lets_the_next_event_queue_another(broker):
    announce([1])
    services._release_nudge_key()
    announce([1])
    announce([2])
    assert len(broker.sent) == 2


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
