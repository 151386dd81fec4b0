"""Bulk moves of a whole filtered MQL list that is too big for one request: a background job.

A marketer's "every lead matching the filters" on more than BACKGROUND_THRESHOLD leads becomes a
BulkMoveJob; a Celery task (leads.tasks.bulk_move_run_task) walks the matching leads by id in
chunks and moves each through leads.services.lead_transition, one transaction per lead.

Safe to run twice, at once or one after the other:
- a run first takes the job's lease with a conditional UPDATE; a second run finds it taken and stops
  (a lease left by a killed worker expires, and the retry takes it over);
- each move commits together with the job's counters and cursor (the UPDATE is conditional on the
  lease, so a run that lost its lease rolls its move back). A rerun continues after the cursor:
  no lead is moved or counted twice. Skips and failures are written at the next move or at the end
  of the chunk; if a run dies before that, the rerun meets those leads again and counts them then.

Nothing is lost when a run is: the beat sweeper (bulk_move_jobs_sweep) queues the task again for a
job that is not done and whose lease ran out long ago (a worker killed for good, a task out of
retries, a message lost while the broker was down).

A job whose runs keep breaking off with the same error (a filter that no longer applies, a bug)
is not queued again forever: each such run is counted, progress resets the count, and after
MAX_FAILURES runs in a row the job stops as failed, with its last error kept for an admin. An
unreachable database is not counted: that is an outage, and the retries wait it out.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import timedelta

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.http import QueryDict
from django.utils import timezone

from . import policy
from .db import fetch_instances
from .exceptions import LeadError
from .forms import ANY_STAGE, DEFAULT_SORT, DEFAULT_STAGE, MqlFilterForm
from .marketing_selectors import filter_chips, leads_filtered
from .models import BulkMoveJob, BulkMoveStatus, Lead
from .services import lead_transition
from .stages import stage_label

logger = logging.getLogger(__name__)

BACKGROUND_THRESHOLD = 1000  # more matching leads than this: a background job
CHUNK = 200
LEASE = timedelta(minutes=5)
# How long past its lease (or, never claimed, past its creation) a job waits before the sweeper
# queues it again. Longer than the task's own retry after a lease (LEASE + 5 s), so a living retry
# gets there first; each sweep that queues a job restarts this wait, so a job is queued again at
# most once per SWEEP_AFTER, however often the beat runs and however long no worker takes it.
SWEEP_AFTER = timedelta(minutes=2)
NOT_DONE = [BulkMoveStatus.QUEUED, BulkMoveStatus.RUNNING]
MAX_FAILURES = 5


def background_threshold() -> int:
    return getattr(settings, "BULK_BACKGROUND_THRESHOLD", BACKGROUND_THRESHOLD)


def needs_background(leads) -> bool:
    """True when `leads` has more rows than a request should move (counts at most threshold + 1)."""
    limit = background_threshold()
    return leads.order_by()[: limit + 1].count() > limit


def bulk_move_job_create(*, user, action: str, to_stage: str, reason: str, query: str) -> BulkMoveJob:
    """Record the job and queue its task once the job is committed."""
    with transaction.atomic():
        job = BulkMoveJob.objects.create(created_by=user, action=action, to_stage=to_stage, reason=reason, query=query)
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: int) -> None:
    """Queue the job's task. Never raises when the broker is down (this runs after the commit, in a
    request or in the sweeper): the job waits, queued, and the next sweep queues it again."""
    from .tasks import bulk_move_run_task

    try:
        bulk_move_run_task.delay(job_id)
    except Exception:
        if bulk_move_run_task.app.conf.task_always_eager:
            raise  # run in-process: a bug to see, not a broker outage
        logger.warning("Could not queue bulk move job %s; the sweeper will", job_id, exc_info=True)


def bulk_move_jobs_sweep(*, now=None) -> int:
    """Beat: queue again the jobs that are not done and that no run holds any more, idempotently.

    A rerun is safe (the lease and the cursor, see the module's docstring), so the sweeper only has to
    avoid flooding the queue: a conditional UPDATE marks each job it queues (lease_until = now, still
    free to claim) and its row count says whether this sweep or a concurrent one queues it.
    Returns how many jobs were queued."""
    now = now or timezone.now()
    cutoff = now - SWEEP_AFTER
    stale = Q(status__in=NOT_DONE) & (Q(lease_until__lt=cutoff) | Q(lease_until__isnull=True, created_at__lt=cutoff))
    queued = 0
    for job_id in BulkMoveJob.objects.filter(stale).order_by("id").values_list("pk", flat=True)[:100]:
        with transaction.atomic():
            if BulkMoveJob.objects.filter(stale, pk=job_id).update(lease_until=now):
                logger.warning("Bulk move job %s: no run holds it any more; queued again", job_id)
                transaction.on_commit(lambda job_id=job_id: _enqueue(job_id))
                queued += 1
    return queued


def _job_filters(job: BulkMoveJob) -> dict:
    data = QueryDict(job.query, mutable=True)
    data.setdefault("stage", DEFAULT_STAGE)
    data.setdefault("sort", DEFAULT_SORT)
    form = MqlFilterForm(data)
    form.is_valid()
    return form.filters()


def _job_leads(job: BulkMoveJob):
    return leads_filtered(filters=_job_filters(job), user=job.created_by)


def _claim(job_id: int, token: str) -> bool:
    now = timezone.now()
    claimed = (
        BulkMoveJob.objects.filter(pk=job_id, status__in=NOT_DONE)
        .exclude(lease_until__gt=now)
        .update(status=BulkMoveStatus.RUNNING, lease_token=token, lease_until=now + LEASE)
    )
    if claimed:
        BulkMoveJob.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    return bool(claimed)


class LeaseLost(Exception):
    """Another run took the job over: this one stops (and rolls back the move it was making)."""


def _merge(stored: dict, new: Counter) -> dict:
    merged = Counter(stored)
    merged.update(new)
    return dict(merged)


def _record(job: BulkMoveJob, token: str, *, last_id: int, moved: int, skipped: Counter, failed: Counter) -> None:
    """Write counters and cursor (inside the caller's transaction), if this run still holds the job."""
    # Only the lease holder writes the job: its copy of the reasons is the stored one.
    merged_skipped, merged_failed = _merge(job.skipped, skipped), _merge(job.failed, failed)
    updated = BulkMoveJob.objects.filter(pk=job.pk, lease_token=token).update(
        last_lead_id=last_id,
        moved=F("moved") + moved,
        done=F("done") + moved + sum(skipped.values()) + sum(failed.values()),
        skipped=merged_skipped,
        failed=merged_failed,
        lease_until=timezone.now() + LEASE,
        failures=0,  # it moved on
    )
    if not updated:
        raise LeaseLost()
    # The last statement of the caller's transaction: what follows is its commit.
    job.skipped, job.failed = merged_skipped, merged_failed


def _why_skipped(actor, lead: Lead, to_stage: str) -> str | None:
    if lead.stage == to_stage:
        return f"Already {stage_label(to_stage)}."
    return policy.why_not_move(actor, lead, to_stage)


def bulk_move_run(*, job_id: int) -> bool:
    """Run (or continue) a bulk move job. False: another run holds its lease (ask again later, in
    case that run died); True: this run finished it, or it was already done."""
    token = uuid.uuid4().hex
    if not _claim(job_id, token):
        return not BulkMoveJob.objects.filter(pk=job_id, status__in=NOT_DONE).exists()
    try:
        return _run_claimed(job_id, token)
    except (OperationalError, InterfaceError):
        raise  # the database is away: the task's retries wait it out, nothing is counted
    except Exception as error:
        if _count_failure(job_id, token, error):
            return True  # stopped for good: no retry
        raise


def _count_failure(job_id: int, token: str, error: Exception) -> bool:
    """Count a run that broke off and free the job for the retry; after MAX_FAILURES in a row, stop
    it as failed. True when it stopped."""
    logger.exception("Bulk move job %s: the run broke off", job_id)
    with transaction.atomic():
        job = BulkMoveJob.objects.select_for_update().filter(pk=job_id, lease_token=token).first()
        if job is None:  # another run took the job over meanwhile
            return False
        job.failures += 1
        job.last_error = f"{type(error).__name__}: {error}"[:1000]
        job.lease_token, job.lease_until = "", None
        fields = ["failures", "last_error", "lease_token", "lease_until"]
        if job.failures >= MAX_FAILURES:
            job.status, job.finished_at = BulkMoveStatus.FAILED, timezone.now()
            fields += ["status", "finished_at"]
            logger.error("Bulk move job %s failed %s runs in a row; stopped", job_id, job.failures)
        job.save(update_fields=fields)
    return job.status == BulkMoveStatus.FAILED


def _run_claimed(job_id: int, token: str) -> bool:
    """The run itself, once this run holds the job's lease."""
    job = BulkMoveJob.objects.select_related("created_by").get(pk=job_id)
    leads = _job_leads(job)
    if not job.total:  # the first run: how many leads match now
        BulkMoveJob.objects.filter(pk=job.pk, lease_token=token).update(total=leads.order_by().count())
    actor = job.created_by
    last_id = job.last_lead_id
    try:
        while True:
            chunk = list(leads.filter(id__gt=last_id).order_by("id").only("id", "stage", "owner_id")[:CHUNK])
            if not chunk:
                break
            skipped: Counter = Counter()
            failed: Counter = Counter()
            for lead in chunk:
                last_id = lead.pk
                refusal = _why_skipped(actor, lead, job.to_stage)
                if refusal:
                    skipped[refusal] += 1
                    continue
                try:
                    with transaction.atomic():
                        lead_transition(
                            lead_id=lead.pk,
                            to_stage=job.to_stage,
                            actor=actor,
                            reason=job.reason,
                            expected_stage=lead.stage,
                        )
                        _record(job, token, last_id=lead.pk, moved=1, skipped=skipped, failed=failed)
                except LeadError as error:
                    skipped[error.message] += 1
                    continue
                except LeaseLost:
                    raise
                except Exception as error:  # one broken lead must not stop the others; it is counted
                    logger.exception("Bulk move job %s: lead %s failed", job.pk, lead.pk)
                    failed[f"{type(error).__name__}: {error}"[:200]] += 1
                    continue
                skipped, failed = Counter(), Counter()
            with transaction.atomic():
                _record(job, token, last_id=last_id, moved=0, skipped=skipped, failed=failed)
    except LeaseLost:
        logger.warning("Bulk move job %s: another run took it over", job_id)
        return True
    BulkMoveJob.objects.filter(pk=job.pk, lease_token=token).update(
        status=BulkMoveStatus.DONE, finished_at=timezone.now(), lease_token="", lease_until=None
    )
    return True


def bulk_move_job_summary(job: BulkMoveJob) -> str:
    """ "1,200 moved, 3 skipped: Already SQL. (2); ... 0 failed." """
    text = f"{job.moved:,} moved, {job.skipped_count:,} skipped"
    if job.skipped:
        text += ": " + "; ".join(f"{reason} ({count:,})" for reason, count in Counter(job.skipped).most_common())
    text += f", {job.failed_count:,} failed"
    if job.failed:
        text += ": " + "; ".join(f"{reason} ({count:,})" for reason, count in Counter(job.failed).most_common())
    return text


# ---- Reads for the pages ---------------------------------------------------------------------

# "Handing off 12,345 leads: 40%" (the MQL list's banner).
VERBS = {"handoff": "Handing off", "recycle": "Recycling", "disqualify": "Disqualifying"}


def bulk_jobs_in_progress(*, user) -> list[BulkMoveJob]:
    """The user's jobs that are not done yet, newest first: one statement on every view of the list."""
    jobs = fetch_instances(
        BulkMoveJob,
        ["id", "action", "status", "total", "done"],
        f"SELECT id, action, status, total, done FROM {BulkMoveJob._meta.db_table}"
        f" WHERE created_by_id = %s AND status IN ({', '.join(['%s'] * len(NOT_DONE))})"
        " ORDER BY created_at DESC, id DESC LIMIT 3",
        [user.pk, *(status.value for status in NOT_DONE)],
    )
    for job in jobs:
        job.verb = VERBS.get(job.action, job.action)
    return jobs


def bulk_job_starter_name(job: BulkMoveJob) -> str:
    starter = job.created_by
    if starter is None:  # the user was deleted since (the job keeps running as nobody)
        return "a user who no longer exists"
    return starter.get_full_name() or starter.get_username()


def bulk_job_filters_in_words(job: BulkMoveJob) -> list[str]:
    """The filters the job applied, as a person would say them: ["Stage: MQL", "Score ≥ 60", ...]."""
    filters = _job_filters(job)
    stage = filters["stage"]
    words = [f"Stage: {'any' if stage == ANY_STAGE else stage_label(stage)}"]
    for chip in filter_chips(filters):
        name, value = chip["name"], chip["value"]
        if name == "stage":
            continue
        if name == "score_min":
            words.append(f"Score ≥ {value}")
        elif name == "score_max":
            words.append(f"Score ≤ {value}")
        elif name == "q":
            words.append(f"Search: “{value}”")
        elif name == "owner" and filters[name] == "me":  # "Mine" was the starter's
            words.append(f"Owner: {bulk_job_starter_name(job)}")
        else:
            words.append(f"{chip['label']}: {value}")
    return words


def bulk_job_reasons(job: BulkMoveJob) -> list[dict]:
    """Why leads were not moved: skips, then failures, each the most frequent first."""
    return [
        {"outcome": outcome, "reason": reason, "count": count}
        for outcome, reasons in (("Skipped", job.skipped), ("Failed", job.failed))
        for reason, count in Counter(reasons).most_common()
    ]
