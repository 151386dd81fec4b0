"""Bulk actions on a whole filtered list too big for one request: a background job (leads.bulk_jobs)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from leads import bulk_jobs
from leads.models import BulkMoveJob, Handoff, Lead, StageChange
from tests.factories import LeadFactory, UserFactory, lead_in_stage
from tests.live_services import free_port, use_broker, wait_until

BULK = reverse("mql-bulk")


@pytest.fixture
def small_threshold(settings, monkeypatch):
    """More than 3 matching leads makes a job; chunks of 2 so every job has several."""
    settings.BULK_BACKGROUND_THRESHOLD = 3
    monkeypatch.setattr(bulk_jobs, "CHUNK", 2)


def job_page(client, job: BulkMoveJob, **headers):
    return client.get(reverse("mql-bulk-job", args=[job.pk]), **headers)


def test_more_than_the_threshold_runs_as_a_job_and_reports_what_it_did(
    marketer_client, marketer, small_threshold, django_capture_on_commit_callbacks
):
    mqls = [lead_in_stage("mql", source="webinar") for _ in range(5)]
    other = lead_in_stage("mql", source="ads")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = marketer_client.post(BULK, {"action": "handoff", "scope": "all", "source": "webinar"})
    job = BulkMoveJob.objects.get()
    assert response["Location"] == reverse("mql-bulk-job", args=[job.pk])
    # The task is queued once, after the job is committed.
    assert sum("bulk_move_job_create" in callback.__qualname__ for callback in callbacks) == 1
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.moved, job.skipped, job.failed) == ("done", 5, 5, 5, {}, {})
    assert set(Lead.objects.filter(stage="sql").values_list("pk", flat=True)) == {lead.pk for lead in mqls}
    assert Lead.objects.get(pk=other.pk).stage == "mql"
    assert StageChange.objects.filter(to_stage="sql", actor=marketer).count() == 5
    assert Handoff.objects.filter(status="open").count() == 5
    html = job_page(marketer_client, job).content.decode()
    assert "5 moved, 0 skipped, 0 failed" in html
    assert "hx-trigger" not in html


def test_up_to_the_threshold_stays_in_the_request(marketer_client, small_threshold):
    for _ in range(3):
        lead_in_stage("mql")
    response = marketer_client.post(BULK, {"action": "handoff", "scope": "all"})
    assert response["Location"] == reverse("mql-list")
    assert not BulkMoveJob.objects.exists()
    assert Lead.objects.filter(stage="sql").count() == 3


def test_a_selection_never_becomes_a_job(marketer_client, small_threshold):
    leads = [lead_in_stage("mql") for _ in range(5)]
    marketer_client.post(BULK, {"action": "handoff", "scope": "selected", "lead": [lead.pk for lead in leads]})
    assert not BulkMoveJob.objects.exists()
    assert Lead.objects.filter(stage="sql").count() == 5


def test_more_than_1000_matching_leads_are_left_to_the_worker(marketer_client, django_capture_on_commit_callbacks):
    Lead.objects.bulk_create([Lead(email=f"lead{i}@example.com", stage="mql") for i in range(1001)])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = marketer_client.post(BULK, {"action": "handoff", "scope": "all"})
    job = BulkMoveJob.objects.get()
    assert response["Location"] == reverse("mql-bulk-job", args=[job.pk])
    assert (job.status, job.to_stage, len(callbacks)) == ("queued", "sql", 1)
    assert not Lead.objects.filter(stage="sql").exists()  # nothing moved in the request


def test_skipped_and_failed_leads_are_counted_with_their_reasons(
    marketer_client, small_threshold, monkeypatch, django_capture_on_commit_callbacks
):
    movable = [lead_in_stage("mql") for _ in range(3)]
    already = lead_in_stage("sql")
    customer = lead_in_stage("customer")
    broken = lead_in_stage("mql")
    real_transition = bulk_jobs.lead_transition

    def transition(*, lead_id, **kwargs):
        if lead_id == broken.pk:
            raise RuntimeError("disk full")
        return real_transition(lead_id=lead_id, **kwargs)

    monkeypatch.setattr(bulk_jobs, "lead_transition", transition)
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(BULK, {"action": "handoff", "scope": "all", "stage": "any"})
    job = BulkMoveJob.objects.get()
    assert (job.status, job.total, job.done, job.moved) == ("done", 6, 6, 3)
    assert job.skipped == {"Already SQL.": 1, "A lead cannot move from Customer to SQL.": 1}
    assert job.failed == {"RuntimeError: disk full": 1}
    assert Lead.objects.get(pk=broken.pk).stage == "mql"  # rolled back whole: no half-written move
    assert not Handoff.objects.filter(lead=broken).exists()
    assert Lead.objects.filter(pk__in=[lead.pk for lead in movable], stage="sql").count() == 3
    assert Lead.objects.get(pk=already.pk).stage == "sql" and Lead.objects.get(pk=customer.pk).stage == "customer"
    html = job_page(marketer_client, job).content.decode()
    assert "3 moved, 2 skipped" in html and "1 failed: RuntimeError: disk full (1)" in html


class WorkerDied(BaseException):
    """A worker killed mid-job: nothing of the job's own code runs after it."""


def test_a_job_run_twice_or_resumed_after_a_crash_moves_and_counts_each_lead_once(
    marketer, small_threshold, monkeypatch, sales_rep
):
    leads = [lead_in_stage("mql") for _ in range(7)]
    claimed = lead_in_stage("sql")
    lead_in_stage("mql")  # stays out: not in the filter below
    Lead.objects.filter(pk=claimed.pk).update(owner=sales_rep)
    ids = [lead.pk for lead in leads] + [claimed.pk]
    Lead.objects.filter(pk__in=ids).update(source="webinar")
    job = BulkMoveJob.objects.create(
        created_by=marketer, action="handoff", to_stage="sql", query="stage=any&source=webinar"
    )
    real_transition = bulk_jobs.lead_transition
    calls = []

    def dies_on_the_fourth_move(**kwargs):
        calls.append(kwargs["lead_id"])
        if len(calls) == 4:
            raise WorkerDied()
        return real_transition(**kwargs)

    monkeypatch.setattr(bulk_jobs, "lead_transition", dies_on_the_fourth_move)
    with pytest.raises(WorkerDied):
        bulk_jobs.bulk_move_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.moved) == ("running", 3)

    # The redelivered task waits while the dead run's lease lasts, then takes the job over.
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is False
    BulkMoveJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is True
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is True  # once more, after it is done: nothing happens

    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.moved) == ("done", 8, 8, 7)
    assert job.skipped == {"Already SQL.": 1}
    assert StageChange.objects.filter(lead_id__in=ids, to_stage="sql", actor=marketer).count() == 7
    assert Handoff.objects.filter(lead__in=leads, status="open").count() == 7
    assert Lead.objects.filter(pk__in=ids, stage="sql").count() == 8


def test_a_second_run_leaves_a_job_held_by_another_alone(marketer):
    lead_in_stage("mql")
    job = BulkMoveJob.objects.create(
        created_by=marketer,
        action="handoff",
        to_stage="sql",
        status="running",
        lease_token="other-run",
        lease_until=timezone.now() + timedelta(minutes=5),
    )
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is False
    assert not Lead.objects.filter(stage="sql").exists()
    assert BulkMoveJob.objects.get(pk=job.pk).lease_token == "other-run"


def test_the_page_polls_its_progress_until_the_job_is_done(marketer_client, marketer):
    for _ in range(2):
        lead_in_stage("mql")
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    page = job_page(marketer_client, job).content.decode()
    assert "Waiting for a worker" in page and 'hx-trigger="every 1s"' in page
    assert "<html" in page
    bulk_jobs.bulk_move_run(job_id=job.pk)
    fragment = job_page(marketer_client, job, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    assert 'data-status="done"' in fragment and "hx-trigger" not in fragment
    assert "2 moved, 0 skipped, 0 failed" in fragment


def test_a_job_moves_what_its_starter_may_move(marketer, small_threshold):
    """The job acts as the marketer who started it: leads.policy is asked for each lead."""
    rep = UserFactory(roles=["sales"])
    lead_in_stage("sql", owner=None)
    job = BulkMoveJob.objects.create(
        created_by=rep, action="disqualify", to_stage="disqualified", reason="x", query="stage=sql"
    )
    Lead.objects.filter(stage="sql").update(owner=UserFactory(roles=["sales"]))
    bulk_jobs.bulk_move_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.moved == 0
    assert job.skipped == {"This lead belongs to another rep: only its owner or an admin can move it.": 1}


def test_the_job_page_is_for_marketing(client_as, sales_rep, marketer):
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    assert job_page(client_as(sales_rep), job).status_code == 403


@pytest.mark.parametrize("job_id", ["999999", "0", "99999999999999999999"])
def test_an_unknown_job_is_a_404_page_in_the_app_with_a_way_back(marketer_client, job_id):
    response = marketer_client.get(f"/marketing/mqls/bulk/{job_id}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "No such bulk action" in html and 'data-testid="bulk-job-missing"' in html
    assert f'href="{reverse("mql-list")}"' in html


def test_a_job_id_that_is_not_a_number_is_a_404(marketer_client):
    assert marketer_client.get("/marketing/mqls/bulk/abc/").status_code == 404


def test_bulk_jobs_leave_unrelated_leads_alone(marketer, small_threshold):
    outsider = LeadFactory(source="ads")
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql", query="source=webinar")
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is True
    assert Lead.objects.get(pk=outsider.pk).stage == "lead"
    assert BulkMoveJob.objects.get(pk=job.pk).total == 0


def test_the_task_delivered_twice_changes_nothing_the_second_time(marketer):
    from leads.tasks import bulk_move_run_task

    leads = [lead_in_stage("mql") for _ in range(3)]
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    bulk_move_run_task.apply(args=(job.pk,))
    bulk_move_run_task.apply(args=(job.pk,))  # Celery delivers the same message again
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.moved, job.skipped) == ("done", 3, 3, 3, {})
    assert StageChange.objects.filter(lead__in=leads, to_stage="sql").count() == 3


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_real_worker_runs_a_bulk_job(transactional_db, live_celery_worker, marketer):
    import time

    Lead.objects.bulk_create([Lead(email=f"w{i}@example.com", stage="mql", score=i % 100) for i in range(250)])
    job = bulk_jobs.bulk_move_job_create(user=marketer, action="handoff", to_stage="sql", reason="", query="")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == "done":
            break
        time.sleep(0.1)
    assert (job.status, job.total, job.done, job.moved) == ("done", 250, 250, 250), live_celery_worker.log_tail()
    assert Lead.objects.filter(stage="sql").count() == 250
    assert StageChange.objects.filter(to_stage="sql", actor=marketer).count() == 250


# ---- The job page: who, when, which leads ------------------------------------------------------


def test_the_job_page_says_who_started_it_when_and_which_leads_in_words(marketer_client, marketer):
    marketer.first_name, marketer.last_name = "Maria", "Marketing"
    marketer.save()
    job = BulkMoveJob.objects.create(
        created_by=marketer,
        action="disqualify",
        to_stage="disqualified",
        reason="Students, not buyers",
        query="country=DE&score_min=60&source=webinar&sort=newest",
    )
    html = job_page(marketer_client, job).content.decode()
    filters = re.search(r'data-testid="bulk-job-filters">(.*?) ·', html, re.S).group(1)
    assert filters == "Stage: MQL, Score ≥ 60, Source: webinar, Country: DE"
    assert re.search(r'data-testid="bulk-job-starter">Maria Marketing<', html)
    assert "Students, not buyers" in html
    assert job.created_at.strftime("%-d %b %Y") in html
    link = re.search(r'href="([^"]+)" data-testid="bulk-job-list-link"', html).group(1).replace("&amp;", "&")
    assert link == reverse("mql-list") + "?country=DE&score_min=60&source=webinar&sort=newest"


def test_the_job_page_names_every_stage_filter_and_a_job_without_a_starter(marketer_client):
    job = BulkMoveJob.objects.create(created_by=None, action="handoff", to_stage="sql", query="stage=any&score_max=20")
    html = job_page(marketer_client, job).content.decode()
    assert re.search(r'data-testid="bulk-job-filters">Stage: any, Score ≤ 20 ·', html)
    assert "a user who no longer exists" in html


def test_a_finished_job_lists_why_leads_were_not_moved_most_frequent_first(marketer_client, marketer):
    job = BulkMoveJob.objects.create(
        created_by=marketer,
        action="handoff",
        to_stage="sql",
        status="done",
        total=12,
        done=12,
        moved=2,
        skipped={"Already SQL.": 1, "A lead cannot move from Customer to SQL.": 7},
        failed={"RuntimeError: disk full": 2},
        finished_at=timezone.now(),
    )
    html = job_page(marketer_client, job).content.decode()
    table = re.search(r'data-testid="bulk-job-reasons">(.*?)</table>', html, re.S).group(1)
    rows = [
        (outcome, re.sub(r"<[^>]+>|\s+", " ", row).split())
        for outcome, row in re.findall(r'<tr data-outcome="(\w+)">(.*?)</tr>', table, re.S)
    ]
    assert [(outcome, words[-1]) for outcome, words in rows] == [("skipped", "7"), ("skipped", "1"), ("failed", "2")]
    assert "A lead cannot move from Customer to SQL." in table.split("Already SQL.")[0]
    assert "Finished" in html and "hx-trigger" not in html
    assert "2 moved, 8 skipped" in html


def test_a_job_that_found_no_lead_says_so(marketer_client, marketer):
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql", query="source=nothing")
    bulk_jobs.bulk_move_run(job_id=job.pk)
    html = job_page(marketer_client, job).content.decode()
    assert "Done: no lead matched the filters any more." in html


# ---- The banner on the MQL list ----------------------------------------------------------------


def banner(html: str) -> list[str]:
    """The banner's lines, as read."""
    lines = re.findall(r'data-job="\d+">(.*?)</div>', html, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", line).split()) for line in lines]


def test_the_list_shows_the_users_jobs_in_progress_with_a_link(marketer_client, marketer):
    running = BulkMoveJob.objects.create(
        created_by=marketer, action="handoff", to_stage="sql", status="running", total=12345, done=4938
    )
    queued = BulkMoveJob.objects.create(created_by=marketer, action="disqualify", to_stage="disqualified")
    BulkMoveJob.objects.create(created_by=marketer, action="recycle", to_stage="mql", status="done", total=5, done=5)
    BulkMoveJob.objects.create(created_by=UserFactory(roles=["marketing"]), action="handoff", to_stage="sql")
    html = marketer_client.get(reverse("mql-list")).content.decode()
    assert banner(html) == [
        "Disqualifying leads: waiting for a worker — view progress",
        "Handing off 12,345 leads: 40% — view progress",
    ]
    for job in (running, queued):
        assert f'href="{reverse("mql-bulk-job", args=[job.pk])}"' in html


def test_no_banner_without_a_job_in_progress(marketer_client, marketer):
    BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql", status="done")
    html = marketer_client.get(reverse("mql-list")).content.decode()
    assert "bulk-job-banner" not in html


def test_the_banner_costs_one_query_however_many_jobs_and_rows(marketer_client, marketer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for i in range(30):
        lead_in_stage("mql", score=i)
    for _ in range(3):
        BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql", status="running", total=9)
    marketer_client.get(reverse("mql-list"))  # warm the suggestions cache
    with CaptureQueriesContext(connection) as queries:
        html = marketer_client.get(reverse("mql-list")).content.decode()
    assert len(banner(html)) == 3
    assert sum("leads_bulkmovejob" in query["sql"] for query in queries.captured_queries) == 1


# ---- The sweeper: jobs whose run is gone are queued again ----------------------------------------


def _stale(job: BulkMoveJob, **fields) -> None:
    """As if the job's lease (or, never claimed, its creation) was longer ago than SWEEP_AFTER."""
    long_ago = timezone.now() - bulk_jobs.SWEEP_AFTER - timedelta(seconds=1)
    BulkMoveJob.objects.filter(pk=job.pk).update(**{name: long_ago for name in fields})


def test_the_sweeper_finishes_a_job_whose_worker_died_moving_each_lead_once(
    marketer, small_threshold, monkeypatch, django_capture_on_commit_callbacks
):
    leads = [lead_in_stage("mql") for _ in range(5)]
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    real_transition = bulk_jobs.lead_transition
    calls = []

    def dies_on_the_third_move(**kwargs):
        calls.append(kwargs["lead_id"])
        if len(calls) == 3:
            raise WorkerDied()
        return real_transition(**kwargs)

    monkeypatch.setattr(bulk_jobs, "lead_transition", dies_on_the_third_move)
    with pytest.raises(WorkerDied):
        bulk_jobs.bulk_move_run(job_id=job.pk)
    # Its lease still runs: the sweeper leaves it alone.
    assert bulk_jobs.bulk_move_jobs_sweep() == 0
    _stale(job, lease_until=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk_jobs.bulk_move_jobs_sweep() == 1  # and the task runs (in-process here)
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.moved, job.skipped, job.failed) == ("done", 5, 5, 5, {}, {})
    assert StageChange.objects.filter(lead__in=leads, to_stage="sql", actor=marketer).count() == 5
    assert Handoff.objects.filter(lead__in=leads).count() == 5
    assert bulk_jobs.bulk_move_jobs_sweep() == 0  # done: never again


def test_the_sweeper_queues_a_job_whose_message_was_lost_once_per_wait(marketer, django_capture_on_commit_callbacks):
    lead_in_stage("mql")
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    assert bulk_jobs.bulk_move_jobs_sweep() == 0  # just created: its own message may be on its way
    _stale(job, created_at=True)
    with django_capture_on_commit_callbacks(execute=False) as queued:  # and that message is lost too
        assert bulk_jobs.bulk_move_jobs_sweep() == 1
    assert len(queued) == 1
    # Sweeps in the next minutes do not queue it again (no worker may be there: no pile of messages)...
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert bulk_jobs.bulk_move_jobs_sweep() == 0
    assert not queued
    # ...until the wait is over.
    _stale(job, lease_until=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk_jobs.bulk_move_jobs_sweep() == 1
    job.refresh_from_db()
    assert (job.status, job.moved) == ("done", 1)


def test_the_sweeper_leaves_jobs_held_by_a_run_and_finished_jobs_alone(marketer):
    lead_in_stage("mql")
    long_ago = timezone.now() - timedelta(hours=1)
    held = BulkMoveJob.objects.create(
        created_by=marketer,
        action="handoff",
        to_stage="sql",
        status="running",
        lease_token="alive",
        lease_until=timezone.now() + timedelta(minutes=4),
    )
    done = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql", status="done")
    BulkMoveJob.objects.filter(pk__in=[held.pk, done.pk]).update(created_at=long_ago)
    assert bulk_jobs.bulk_move_jobs_sweep() == 0
    assert BulkMoveJob.objects.get(pk=held.pk).lease_token == "alive"
    assert not Lead.objects.filter(stage="sql").exists()


def test_the_sweeper_runs_on_the_beat():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["bulk-move-jobs-sweep"]
    assert entry["task"] == "leads.tasks.bulk_move_jobs_sweep_task"
    assert entry["schedule"] <= bulk_jobs.SWEEP_AFTER.total_seconds()


@pytest.fixture
def broker_down():
    """The Celery app pointed at a Redis port nobody listens on, out of eager mode."""
    from leadcrm.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    use_broker(app, f"redis://127.0.0.1:{free_port()}/0")
    yield
    use_broker(app, saved[0])
    app.conf.task_always_eager = saved[1]


def test_a_job_started_while_the_broker_is_down_waits_for_the_sweeper(
    marketer_client, small_threshold, broker_down, django_capture_on_commit_callbacks
):
    for _ in range(5):
        lead_in_stage("mql")
    with django_capture_on_commit_callbacks(execute=True):
        response = marketer_client.post(BULK, {"action": "handoff", "scope": "all"})
    job = BulkMoveJob.objects.get()
    assert response["Location"] == reverse("mql-bulk-job", args=[job.pk])
    assert job.status == "queued" and not Lead.objects.filter(stage="sql").exists()
    _stale(job, created_at=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk_jobs.bulk_move_jobs_sweep() == 1  # still down: logged, tried again after the wait
    assert BulkMoveJob.objects.get(pk=job.pk).status == "queued"


@pytest.fixture
def bulk_sweep_every_second(monkeypatch):
    monkeypatch.setenv("BULK_SWEEP_SECONDS", "1")  # read by the beat process live_celery_beat starts


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_the_beat_sweeper_and_a_real_worker_finish_a_job_whose_message_was_lost(
    bulk_sweep_every_second, live_celery_beat, live_celery_worker, marketer
):
    Lead.objects.bulk_create([Lead(email=f"s{i}@example.com", stage="mql") for i in range(120)])
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")  # never queued
    _stale(job, created_at=True)
    wait_until(lambda: BulkMoveJob.objects.get(pk=job.pk).status == "done", 90, live_celery_worker)
    job.refresh_from_db()
    assert (job.total, job.done, job.moved) == (120, 120, 120)
    assert StageChange.objects.filter(to_stage="sql", actor=marketer).count() == 120


def _breaks_off(monkeypatch, error: Exception):
    """Every run breaks off with `error` before moving any lead (a filter that no longer applies)."""

    def broken(job):
        raise error

    monkeypatch.setattr(bulk_jobs, "_job_leads", broken)


def test_a_job_whose_runs_keep_breaking_off_stops_as_failed_and_is_not_queued_again(
    marketer_client, marketer, monkeypatch, django_capture_on_commit_callbacks
):
    lead_in_stage("mql")
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    _breaks_off(monkeypatch, ValueError("no such filter"))
    for attempt in range(1, bulk_jobs.MAX_FAILURES):
        with pytest.raises(ValueError):  # raised: the task's retry runs it again
            bulk_jobs.bulk_move_run(job_id=job.pk)
        job.refresh_from_db()
        # Counted, and the lease freed so that the retry need not wait for it to run out.
        assert (job.status, job.failures, job.lease_until) == ("running", attempt, None)
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is True  # the last straw: stopped, no retry
    job.refresh_from_db()
    assert (job.status, job.failures, job.last_error) == ("failed", 5, "ValueError: no such filter")
    assert job.finished_at is not None
    assert not Lead.objects.filter(stage="sql").exists()

    # The sweeper leaves it alone, a rerun does nothing, and the list's banner no longer shows it.
    BulkMoveJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert bulk_jobs.bulk_move_jobs_sweep() == 0
    assert not queued
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is True
    assert BulkMoveJob.objects.get(pk=job.pk).failures == 5
    assert 'data-testid="bulk-job-banner"' not in marketer_client.get(reverse("mql-list")).content.decode()

    # Its page says it stopped, without the raw error, and stops polling.
    page = job_page(marketer_client, job).content.decode()
    assert 'data-status="failed"' in page and "hx-trigger" not in page
    assert "Stopped before it handled any lead." in page
    assert "5 runs in a row broke off with an error" in page and f"job {job.pk}" in page
    assert "no such filter" not in page


def test_progress_between_failures_starts_the_count_again(marketer, small_threshold, monkeypatch):
    leads = [lead_in_stage("mql") for _ in range(3)]
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    BulkMoveJob.objects.filter(pk=job.pk).update(status="running", failures=bulk_jobs.MAX_FAILURES - 1)
    real_transition = bulk_jobs.lead_transition

    def breaks_after_the_first_move(**kwargs):
        if kwargs["lead_id"] != leads[0].pk:
            raise RuntimeError("the disk is full")
        return real_transition(**kwargs)

    monkeypatch.setattr(bulk_jobs, "lead_transition", breaks_after_the_first_move)
    # A failing lead is counted with the job and the run goes on; here the job finishes.
    assert bulk_jobs.bulk_move_run(job_id=job.pk) is True
    job.refresh_from_db()
    assert (job.status, job.moved, job.failures) == ("done", 1, 0)
    assert job.failed == {"RuntimeError: the disk is full": 2}


def test_an_unreachable_database_is_not_counted_against_the_job(marketer, monkeypatch):
    from django.db import OperationalError

    lead_in_stage("mql")
    job = BulkMoveJob.objects.create(created_by=marketer, action="handoff", to_stage="sql")
    _breaks_off(monkeypatch, OperationalError("server closed the connection unexpectedly"))
    for _ in range(bulk_jobs.MAX_FAILURES + 1):
        with pytest.raises(OperationalError):
            bulk_jobs.bulk_move_run(job_id=job.pk)
        BulkMoveJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    job.refresh_from_db()
    assert (job.status, job.failures) == ("running", 0)


def test_the_admin_shows_a_failed_jobs_last_error(admin_client, marketer):
    job = BulkMoveJob.objects.create(
        created_by=marketer, action="handoff", to_stage="sql", status="failed", failures=5, last_error="ValueError: x"
    )
    page = admin_client.get(reverse("admin:leads_bulkmovejob_change", args=[job.pk])).content.decode()
    assert "ValueError: x" in page
