"""Celery tasks of the leads app: thin, idempotent, safe to run twice or concurrently."""

from celery import shared_task

from .handoffs import handoff_sla_sweep


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def handoff_sla_sweep_task() -> int:
    """Mark handoffs past their SLA, notify the sales team, offer them to the next rep."""
    return handoff_sla_sweep()


@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=12)
def bulk_move_run_task(self, job_id: int) -> None:
    """Move every lead of a bulk job (leads.bulk_jobs); a rerun continues where the last run stopped.
    While another run holds the job, look again after its lease would have run out (it may have died)."""
    from .bulk_jobs import LEASE, bulk_move_run

    if not bulk_move_run(job_id=job_id):
        raise self.retry(countdown=int(LEASE.total_seconds()) + 5)


@shared_task
def bulk_move_jobs_sweep_task() -> int:
    """Beat: queue again the bulk move jobs that are not done and that no run holds any more."""
    from .bulk_jobs import bulk_move_jobs_sweep

    return bulk_move_jobs_sweep()
