"""PostgreSQL restarted under a steady load of submissions (real HTTP, gunicorn, a worker).

A request the database cannot serve gets 503 with Retry-After and a JSON body (a plain 503 page in
the browser), never a 500; its transaction was rolled back, so nothing is half-written; a client
that retries with its Idempotency-Key gets its submission stored exactly once; and the app serves
again on its own once PostgreSQL is back (CONN_HEALTH_CHECKS drops the dead connections).
"""

import time

import pytest

from tests.live_services import wait_until

pytestmark = pytest.mark.faults

DOWN_SECONDS = 3
# After PostgreSQL accepts connections again, how long requests may still fail (each gunicorn
# worker notices its dead connection on its next request and reconnects).
RECOVERY_SECONDS = 5


def assert_unavailable(reply, content_type: str) -> None:
    assert reply.status == 503, (reply.status, reply.body[:300])
    assert int(reply.headers["retry-after"]) > 0
    assert reply.headers["content-type"].startswith(content_type)


def test_a_postgresql_restart_under_load_answers_503_then_serves_again_and_loses_nothing(fault_stack, submission_load):
    session_cookie = fault_stack.browser_session()
    load = submission_load("pg-restart")
    wait_until(lambda: load.sent() >= 10, 30, fault_stack.web, "the load is under way")

    fault_stack.postgres.stop("fast")  # rolls back open transactions, disconnects every client
    time.sleep(0.5)
    page = fault_stack.get("/", headers={"Cookie": session_cookie})
    api_read = fault_stack.api("GET", "/api/v1/leads/")
    time.sleep(DOWN_SECONDS)
    fault_stack.postgres.start()
    back_at = time.monotonic()
    time.sleep(RECOVERY_SECONDS + 2)
    replies = load.stop()

    # The browser gets a plain 503 page, the API a JSON 503; both say when to retry.
    assert_unavailable(page, "text/html")
    assert b"briefly unavailable" in page.body
    assert_unavailable(api_read, "application/json")
    assert api_read.json()["type"] == "service_unavailable"

    attempts = [reply for history in replies.values() for reply in history]
    assert {reply.status for reply in attempts} == {201, 503}, sorted({(r.status, r.body[:200]) for r in attempts})
    for reply in attempts:
        if reply.status == 503:
            assert_unavailable(reply, "application/json")
            assert reply.json()["type"] == "service_unavailable"
    # Every client got its submission stored in the end, by retrying with the same key.
    assert all(history[-1].status == 201 for history in replies.values())
    # The app serves again on its own: nothing sent once PostgreSQL had been back a moment failed.
    late_failures = [r for r in attempts if r.status != 201 and r.started > back_at + RECOVERY_SECONDS]
    assert not late_failures, [(round(r.started - back_at, 1), r.status) for r in late_failures]

    # Nothing half-written, nothing twice: one lead, one submission, one event and one idempotency
    # record per email, whether its first attempt was served, refused or cut off mid-transaction.
    emails = sorted(replies)
    rows = fault_stack.sql(
        """SELECT l.email, count(DISTINCT s.id), count(DISTINCT e.id)
           FROM leads_lead l
           LEFT JOIN leads_submission s ON s.lead_id = l.id
           LEFT JOIN leads_engagementevent e ON e.lead_id = l.id AND e.event_type = 'form_submitted'
           WHERE l.email = ANY(%s) GROUP BY l.email""",
        [emails],
    )
    assert sorted(rows) == [(email, 1, 1) for email in emails]
    assert fault_stack.value("SELECT count(*) FROM leads_idempotencyrecord WHERE key = ANY(%s)", [emails]) == len(
        emails
    )
    refused = sum(1 for history in replies.values() if len(history) > 1)
    unavailable = sum(reply.status == 503 for reply in attempts)
    print(f"{len(emails)} submissions; {unavailable} answers were 503; {refused} stored on a retry")
