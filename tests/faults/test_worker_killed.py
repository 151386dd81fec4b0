"""The Celery worker SIGKILLed in the middle of a 10,000-event burst, then started again.

The events arrive through the API (gunicorn) in batches of 100, each event with an external_id, so
a client retrying a batch the server did not answer cannot store an event twice. The worker (and
its pool processes) dies with a drain in hand: late acknowledgement keeps that message in Redis
until the visibility timeout, and the leads it was scoring are still marked stale in PostgreSQL,
so the beat sweeper scores them. At the end every event is stored once and every lead's score is
what a from-scratch recompute says.
"""

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.live_services import wait_until

pytestmark = pytest.mark.faults

TOTAL = 10_000
BATCH = 100
LEADS = 40
KINDS = ["page_view", "email_click", "content_download", "webinar_attended", "product_active_day", "email_open"]
SUFFIX = "@burst.faults.test"


def batch(number: int) -> dict:
    now = datetime.now(UTC)
    return {
        "events": [
            {
                "email": f"lead{(number * BATCH + k) % LEADS}{SUFFIX}",
                "event_type": KINDS[(number + k) % len(KINDS)],
                "occurred_at": (now - timedelta(days=(number + k) % 7)).isoformat(),
                "external_id": f"burst-{number}-{k}",
            }
            for k in range(BATCH)
        ]
    }


def test_a_worker_killed_mid_burst_loses_nothing_and_every_score_matches_a_recompute(fault_stack):
    stored = 0
    failures: list = []

    def client():
        nonlocal stored
        for number in range(TOTAL // BATCH):
            body = batch(number)
            for _ in range(20):  # retry what was not answered: the external ids make it safe
                reply = fault_stack.api("POST", "/api/v1/events/", body)
                if reply.status == 200:
                    stored += reply.json()["accepted"]
                    break
                failures.append((number, reply.status, reply.body[:200]))
                time.sleep(0.5)

    producer = threading.Thread(target=client)
    producer.start()
    worker = fault_stack.worker
    wait_until(
        lambda: stored >= 2_000 and "recompute_stale_scores_task" in worker.log_since_start(),
        60,
        worker,
        "the burst is under way and the worker is scoring it",
    )
    with fault_stack.supervision:  # the supervisor must not restart it first
        worker.kill()  # SIGKILL to the whole process group: the worker and its pool processes
        killed_at = stored
        time.sleep(0.5)
        worker.start()
    producer.join(timeout=180)
    assert not producer.is_alive()
    assert killed_at < TOTAL, "the burst was over before the kill"
    assert not failures, failures[:5]  # the API never depended on the worker

    # Every event stored exactly once.
    assert stored == TOTAL
    assert fault_stack.sql(
        "SELECT count(*), count(DISTINCT external_id) FROM leads_engagementevent WHERE external_id LIKE 'burst-%%'"
    ) == [(TOTAL, TOTAL)]

    # The sweeper (every second here) scores what the killed worker was holding: no lead marked,
    # unscored or with events still in the pending-activity queue (leads.activity).
    def all_scored() -> bool:
        return not fault_stack.value(
            "SELECT count(*) FROM leads_lead WHERE email LIKE %s AND (score_stale OR scored_at IS NULL)",
            [f"%{SUFFIX}"],
        ) and not fault_stack.value("SELECT count(*) FROM leads_pendingactivity")

    wait_until(all_scored, 60, worker, "every lead scored after the restart")
    check = json.loads(fault_stack.python("tests.faults.score_check", SUFFIX))
    assert check == {"leads": LEADS, "mismatches": []}
    print(f"worker killed after {killed_at:,} of {TOTAL:,} events; every lead matches a from-scratch recompute")
