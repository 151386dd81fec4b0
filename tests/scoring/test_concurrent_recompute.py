"""Two workers recomputing the same lead at once, while its events arrive (issue 8, item 4).

Real threads, each with its own PostgreSQL connection, run the worker's own code (the drain that
takes queue rows with SKIP LOCKED, and leads_score_now that waits for the lock) and the app's own event path
(events_record: store, mark, nudge after commit, which in these tests drains in-process too). The
end state must be the from-scratch score, every event counted once, and every move made once.
"""

import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction
from django.utils import timezone

from leads.activity import pending_activity_take, score_is_stale
from leads.models import EngagementEvent, Handoff, Lead, PendingActivity, StageChange
from leads.services import events_record, lead_mark_score_stale
from scoring import services
from scoring.selectors import LEAD_FACT_FIELDS, engine_ruleset
from scoring.services import _score_locked
from tests.factories import LeadFactory

from .helpers import event, from_scratch

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

GOOD_FIT = {"job_title": "Director", "company_size": 200, "industry": "Software", "country": "US"}  # 40 points
# One engagement rule each in the default rule set (page views without a URL match only "Page view").
RULE_OF_TYPE = {
    "page_view": "Page view",
    "email_click": "Email click",
    "content_download": "Content download",
    "feature_used": "Feature used",
    "demo_request": "Demo request",
}


def run_together(*targets, timeout: float = 120):
    """Start the targets in threads at the same moment; re-raise the first error."""
    errors = []
    barrier = threading.Barrier(len(targets))

    def run(target):
        try:
            barrier.wait()
            target()
        except BaseException as error:  # re-raised by the main thread
            errors.append(error)
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=run, args=(target,), daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]


def score_the_queued_lead(lead: Lead) -> None:
    """What a drain pass does, in the caller's transaction: take the queue row, lock and score."""
    rows = pending_activity_take(leads=10, columns=(*LEAD_FACT_FIELDS, "score_stale_since"))
    assert [row[0] for row in rows] == [lead.pk]
    _score_locked([row[:-1] for row in rows], engine_ruleset(services.ruleset_ensure_published()), timezone.now())


def wait_for_a_lock_wait(who: str) -> None:
    """Return once some transaction of this database waits for a lock (the writer we expect to
    block on the worker's row lock)."""
    with connection.cursor() as cursor:
        for _ in range(3000):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError(f"{who} never waited for the worker's lock")


def assert_scored_once_and_from_scratch(lead: Lead, sent: Counter):
    lead.refresh_from_db()
    assert not lead.score_stale
    stored = Counter(EngagementEvent.objects.filter(lead=lead).values_list("event_type", flat=True))
    assert stored == sent  # every event stored once
    expected = from_scratch(lead)
    assert (lead.fit_score, lead.engagement_score, lead.score) == (expected.fit, expected.engagement, expected.total)
    assert lead.score_breakdown == expected.breakdown
    # Nothing counted twice: the breakdown's event counts are the events that were sent.
    counted = {item["rule"]: item["events"] for item in lead.score_breakdown if item["kind"] == "engagement"}
    assert counted == {RULE_OF_TYPE[event_type]: count for event_type, count in sent.items()}


def test_two_workers_and_a_stream_of_events_end_with_the_from_scratch_score():
    services.ruleset_ensure_published()
    hot, other = LeadFactory(**GOOD_FIT), LeadFactory(**GOOD_FIT)
    sent = {hot.pk: Counter(), other.pk: Counter()}
    producers_done = threading.Event()
    lock = threading.Lock()
    running = [2]

    def producer(seed: int):
        rng = random.Random(seed)
        try:
            for _ in range(25):
                lead = hot if rng.random() < 0.8 else other
                items = [event(rng.choice(["page_view", "email_click", "content_download"]))]
                items *= rng.randint(1, 3)
                events_record(lead=lead, events=items, source="test")
                with lock:
                    sent[lead.pk][items[0]["event_type"]] += len(items)
        finally:
            with lock:
                running[0] -= 1
                if not running[0]:
                    producers_done.set()

    def worker(recompute):
        # Recompute until the events stop, then once more: what a worker does after its last nudge.
        while not producers_done.wait(0.005):
            recompute()
        recompute()

    def last_event():
        producers_done.wait()
        events_record(lead=hot, events=[event("demo_request")], source="test")  # high intent: SQL
        with lock:
            sent[hot.pk]["demo_request"] += 1

    run_together(
        lambda: producer(1),
        lambda: producer(2),
        lambda: worker(services.scores_recompute_stale),  # takes queue rows with SKIP LOCKED
        lambda: worker(lambda: services.leads_score_now(lead_ids=[hot.pk, other.pk])),  # waits for the lock
        last_event,
    )

    assert not Lead.objects.filter(score_stale=True).exists()  # no sweeper needed
    assert_scored_once_and_from_scratch(hot, sent[hot.pk])
    assert_scored_once_and_from_scratch(other, sent[other.pk])
    # Both leads passed the MQL threshold (40 fit + 24 for three downloads or more) and the hot one
    # asked for a demo: each move made once, one handoff, whatever the interleaving.
    hot_moves = list(StageChange.objects.filter(lead=hot).values_list("from_stage", "to_stage", "actor_label"))
    assert hot_moves.count(("lead", "mql", "scoring")) <= 1
    assert hot_moves.count(("mql", "sql", "scoring")) + hot_moves.count(("lead", "sql", "scoring")) == 1
    assert Handoff.objects.filter(lead=hot).count() == 1
    assert Lead.objects.get(pk=hot.pk).stage == "sql"
    other_moves = list(StageChange.objects.filter(lead=other).values_list("to_stage", flat=True))
    assert len(other_moves) == len(set(other_moves))


def test_a_lead_held_by_one_worker_is_skipped_by_the_other_and_its_new_event_is_not_lost():
    """The interleaving that matters, made to happen: worker A has taken the lead's queue row and
    scored the lead from the events it saw; an event for it arrives (its mark waits for A's row
    lock); worker B skips the row instead of waiting or scoring the lead too; A commits and
    clears its mark; the new event's mark lands after that, so the event's nudge scores the lead
    again, with the event."""
    services.ruleset_ensure_published()
    lead = LeadFactory(**GOOD_FIT)
    events_record(lead=lead, events=[event("email_click")] * 2, source="test")  # scored in-process
    lead_mark_score_stale(lead_ids=[lead.pk], nudge=False)
    a_has_scored, a_may_commit, b_skipped = threading.Event(), threading.Event(), threading.Event()
    seen_by_b = []

    def worker_a():
        with transaction.atomic():
            score_the_queued_lead(lead)
            a_has_scored.set()
            assert a_may_commit.wait(30)

    def new_event():
        assert a_has_scored.wait(30)
        # Blocks on the mark until A commits; the nudge after commit drains in-process.
        events_record(lead=lead, events=[event("content_download")], source="test")

    def worker_b():
        assert a_has_scored.wait(30)
        seen_by_b.append(services.scores_recompute_stale().leads)  # must not wait for A, nor score the lead
        b_skipped.set()

    def release_a():
        assert b_skipped.wait(30)
        wait_for_a_lock_wait("the new event")
        a_may_commit.set()

    run_together(worker_a, new_event, worker_b, release_a)

    assert seen_by_b == [0]
    assert_scored_once_and_from_scratch(lead, Counter({"email_click": 2, "content_download": 1}))


def test_a_mark_made_while_a_worker_holds_the_lead_is_scored_by_a_later_pass():
    """Worker A takes the lead's queue row and scores it; meanwhile an event is stored (it does
    not wait for A) and the lead is marked, without a nudge (as if it were lost): the mark waits
    for A's lock, and its queue row commits after A's take. A clears the mark it read and
    commits; the new mark and queue row land after that, so a later pass (the sweeper's) scores
    the event."""
    services.ruleset_ensure_published()
    lead = LeadFactory(**GOOD_FIT)
    events_record(lead=lead, events=[event("email_click")] * 2, source="test")  # scored in-process
    lead_mark_score_stale(lead_ids=[lead.pk], nudge=False)
    a_has_scored, a_may_commit = threading.Event(), threading.Event()

    def worker_a():
        with transaction.atomic():
            score_the_queued_lead(lead)
            a_has_scored.set()
            assert a_may_commit.wait(30)

    def new_event_quietly():
        assert a_has_scored.wait(30)
        with transaction.atomic():
            EngagementEvent.objects.create(
                lead=lead, event_type="content_download", occurred_at=timezone.now(), properties={}
            )
            lead_mark_score_stale(lead_ids=[lead.pk], nudge=False)  # waits for A

    def release_a():
        assert a_has_scored.wait(30)
        wait_for_a_lock_wait("the mark")
        a_may_commit.set()

    run_together(worker_a, new_event_quietly, release_a)

    lead.refresh_from_db()
    counted = {item["rule"]: item["events"] for item in lead.score_breakdown if item["kind"] == "engagement"}
    assert counted == {"Email click": 2}  # A's score, without the new event
    assert lead.score_stale and score_is_stale(lead)
    assert PendingActivity.objects.filter(activity__contains=[{"l": lead.pk}]).count() == 1

    assert services.scores_recompute_stale().leads == 1  # the sweeper's drain

    assert_scored_once_and_from_scratch(lead, Counter({"email_click": 2, "content_download": 1}))
    assert not PendingActivity.objects.exists()
