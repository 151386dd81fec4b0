"""Celery tasks of the scoring app: thin, ids only, idempotent (scores are recomputed from the
stored events, never incremented), retried with backoff when the database is unreachable."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import selectors, services
from .models import RescoreReason

RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 10,
}
# A drain or rescore run yields after this long and queues its continuation, so one task never
# holds a worker (or an unacknowledged message) for long.
DRAIN_SECONDS = 20.0
RESCORE_SECONDS = 5.0


@shared_task(**RETRY)
def recompute_stale_scores_task() -> int:
    outcome = services.scores_drain(time_budget=DRAIN_SECONDS)
    if outcome.more:
        recompute_stale_scores_task.delay()
    return outcome.leads


@shared_task(**RETRY)
def sweep_stale_scores_task() -> int:
    """Beat: score what lost nudges left behind, and restart rescore jobs whose task was lost."""
    for job_id in selectors.rescore_jobs_stalled():
        rescore_task.delay(job_id)
    outcome = services.scores_recompute_stale(time_budget=DRAIN_SECONDS)
    if outcome.more:
        recompute_stale_scores_task.delay()
    return outcome.leads


@shared_task(**RETRY)
def rescore_task(job_id: int) -> None:
    if not services.rescore_job_run(job_id=job_id, time_budget=RESCORE_SECONDS):
        rescore_task.delay(job_id)


@shared_task(**RETRY)
def decay_refresh_task() -> int:
    """Beat, daily: rescore leads with engagement points so that old engagement fades."""
    return services.rescore_job_start(reason=RescoreReason.DECAY).pk
