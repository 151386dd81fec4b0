"""Celery tasks of data in and out (issue 7): thin, ids only, safe to run twice or concurrently."""

from celery import shared_task

from . import imports, webhooks


@shared_task
def webhook_deliver_task(delivery_id: int) -> None:
    """One attempt; a failure schedules the next one after its backoff (the attempt is claimed with
    a conditional UPDATE, so a duplicate task sends nothing)."""
    delay = webhooks.webhook_delivery_attempt(delivery_id=delivery_id)
    if delay is not None:
        webhook_deliver_task.apply_async((delivery_id,), countdown=delay)


@shared_task
def webhook_deliveries_sweep_task() -> int:
    """Beat: retries whose task was lost, deliveries a killed worker left half sent."""
    return webhooks.webhook_deliveries_sweep()


@shared_task
def import_run_task(job_id: int) -> None:
    """Run a queued CSV import (a second copy, or one re-run after a lost worker, resumes after the
    last written chunk and counts nothing twice)."""
    imports.import_run(job_id=job_id)


@shared_task
def import_jobs_sweep_task() -> int:
    """Beat: queue again the imports whose task was lost (broker down at start, worker killed)."""
    return imports.import_jobs_sweep()
