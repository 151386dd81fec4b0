"""The import sweeper: a CSV import whose task was lost (the broker was down when it was started, or
its worker died mid-file) is queued again once silent, and the copy finishes it without writing
or counting a row twice."""

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from leads import imports
from leads.data_tasks import import_run_task
from leads.imports import STALLED_AFTER, import_jobs_sweep, import_set_mapping, import_start, import_upload
from leads.models import ImportJob, ImportRowError, ImportStatus, Lead
from tests.live_services import free_port, use_broker, wait_until

pytestmark = pytest.mark.django_db

CSV = ("email,first_name\n" + "".join(f"s{i}@example.com,S{i}\n" for i in range(7)) + "bad,x\n").encode()
LATER = STALLED_AFTER + timedelta(seconds=1)


def counts(job: ImportJob) -> tuple:
    job.refresh_from_db()
    return job.status, job.total_rows, job.processed_rows, job.created_count, job.updated_count, job.failed_count


def mapped_job(raw: bytes = CSV) -> ImportJob:
    job = import_upload(file_name="sweep.csv", raw=raw)
    import_set_mapping(job_id=job.pk, mapping=job.mapping, mode="update_empty")
    return job


@pytest.fixture
def var_dir(tmp_path, settings):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def broker_down():
    """The Celery app pointed at a Redis port nobody listens on, out of eager mode; back after."""
    from leadcrm.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    use_broker(app, f"redis://127.0.0.1:{free_port()}/0")
    yield
    use_broker(app, saved[0])
    app.conf.task_always_eager = saved[1]


@pytest.fixture
def sent(monkeypatch):
    """The job ids the sweeper queues (the tasks themselves are not run)."""
    ids: list[int] = []
    monkeypatch.setattr(imports, "_enqueue", ids.append)
    return ids


def test_an_import_started_while_the_broker_is_down_is_run_by_the_sweeper_once_it_is_back(
    var_dir, broker_down, django_capture_on_commit_callbacks
):
    job = mapped_job()
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        import_start(job_id=job.pk)  # the publish fails after commit: no error reaches the user
    assert time.monotonic() - started < 5
    assert counts(job)[0] == ImportStatus.QUEUED
    assert import_jobs_sweep() == 0  # just queued: not silent yet

    # Five minutes later the broker is still down: the sweeper tries, the job waits, still queued.
    assert import_jobs_sweep(now=timezone.now() + LATER) == 1
    assert counts(job)[0] == ImportStatus.QUEUED
    assert Lead.objects.count() == 0

    # The broker is back (tasks in-process here): the next sweep after the wait runs the import.
    from leadcrm.celery import app

    app.conf.task_always_eager = True
    assert import_jobs_sweep(now=timezone.now() + 2 * LATER) == 1
    assert counts(job) == (ImportStatus.DONE, 8, 8, 7, 0, 1)
    assert Lead.objects.count() == 7


def test_an_import_whose_worker_died_mid_file_is_finished_without_duplicates_or_reset_counts(var_dir, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 3)
    job = mapped_job()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED, heartbeat_at=timezone.now())
    real_write = imports._write_chunk
    chunks = []

    def killed_on_the_second_chunk(rows, *, mode):
        if chunks:
            raise SystemExit("the worker was killed")
        chunks.append(len(rows))
        return real_write(rows, mode=mode)

    monkeypatch.setattr(imports, "_write_chunk", killed_on_the_second_chunk)
    with pytest.raises(SystemExit):
        import_run_task.apply(args=(job.pk,), throw=True)
    assert counts(job) == (ImportStatus.RUNNING, 8, 4, 3, 0, 1)  # 1 rejected + the first 3 rows
    monkeypatch.setattr(imports, "_write_chunk", real_write)

    assert import_jobs_sweep() == 0  # a chunk was just written: the run may still be alive
    assert import_jobs_sweep(now=timezone.now() + LATER) == 1  # silent: queued again, and run here

    assert counts(job) == (ImportStatus.DONE, 8, 8, 7, 0, 1)  # not 10 created, not reset to 4
    assert Lead.objects.count() == 7
    assert sorted(Lead.objects.values_list("first_name", flat=True)) == [f"S{i}" for i in range(7)]
    assert ImportRowError.objects.filter(job=job).count() == 1
    assert import_jobs_sweep(now=timezone.now() + 3 * LATER) == 0  # done: never queued again


def test_a_copy_queued_for_an_import_that_finished_meanwhile_changes_nothing(var_dir, sent):
    job = mapped_job()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    assert import_jobs_sweep(now=timezone.now() + LATER) == 1  # the sweeper thinks it stalled...
    import_run_task.apply(args=(job.pk,))  # ...but the first run finishes first
    done = counts(job)
    assert done == (ImportStatus.DONE, 8, 8, 7, 0, 1)
    import_run_task.apply(args=sent)  # then the sweeper's copy arrives
    assert counts(job) == done
    assert Lead.objects.count() == 7


def test_each_silent_job_is_queued_once_per_wait_and_others_are_left_alone(var_dir, sent):
    now = timezone.now()
    silent_queued, silent_running, busy, done, uploaded, old_queued = (mapped_job() for _ in range(6))
    ImportJob.objects.filter(pk=silent_queued.pk).update(status=ImportStatus.QUEUED, heartbeat_at=now - LATER)
    ImportJob.objects.filter(pk=silent_running.pk).update(status=ImportStatus.RUNNING, heartbeat_at=now - LATER)
    ImportJob.objects.filter(pk=busy.pk).update(status=ImportStatus.RUNNING, heartbeat_at=now - timedelta(seconds=30))
    ImportJob.objects.filter(pk=done.pk).update(status=ImportStatus.DONE, heartbeat_at=now - LATER)
    ImportJob.objects.filter(pk=uploaded.pk).update(created_at=now - 10 * LATER)  # never started
    # Queued before jobs had a heartbeat: its creation counts.
    ImportJob.objects.filter(pk=old_queued.pk).update(status=ImportStatus.QUEUED, created_at=now - LATER)

    assert import_jobs_sweep(now=now) == 3
    assert sorted(sent) == [silent_queued.pk, silent_running.pk, old_queued.pk]
    ImportJob.objects.filter(pk=busy.pk).update(status=ImportStatus.DONE)  # the living run finishes
    # A second sweep (another beat tick, or two sweeps at once) does not queue them again...
    assert import_jobs_sweep(now=now) == 0
    assert import_jobs_sweep(now=now + STALLED_AFTER - timedelta(seconds=1)) == 0
    # ...until they have been silent for another full wait.
    assert import_jobs_sweep(now=now + LATER) == 3
    assert sorted(sent) == sorted([silent_queued.pk, silent_running.pk, old_queued.pk] * 2)


def test_the_sweeper_is_on_the_beat_schedule_more_often_than_the_wait():
    from leadcrm.celery import app

    entry = django_settings.CELERY_BEAT_SCHEDULE["imports-sweep"]
    assert entry["task"] in app.tasks
    assert entry["schedule"] < STALLED_AFTER.total_seconds()


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_real_worker_runs_an_import_started_while_the_broker_was_down(transactional_db, live_celery_worker):
    from leadcrm.celery import app

    # The worker reads the stored file: keep it where both processes see it (the default VAR_DIR).
    job = mapped_job()
    worker_broker = app.conf.broker_url
    use_broker(app, f"redis://127.0.0.1:{free_port()}/0")
    try:
        import_start(job_id=job.pk)  # commits; its publish fails
    finally:
        use_broker(app, worker_broker)
    time.sleep(1)
    assert counts(job)[0] == ImportStatus.QUEUED, live_celery_worker.log_tail()

    assert import_jobs_sweep(now=timezone.now() + LATER) == 1
    wait_until(lambda: counts(job)[0] == ImportStatus.DONE, 60, live_celery_worker, "the swept import finished")
    assert counts(job) == (ImportStatus.DONE, 8, 8, 7, 0, 1)
    assert Lead.objects.count() == 7
