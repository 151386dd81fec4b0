"""Celery tasks of the leads app: thin, idempotent, safe to run twice or concurrently."""

from celery import shared_task

from .handoffs import handoff_sla_sweep


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def handoff_sla_sweep_task() -> int:
    """Mark handoffs past their SLA, notify the sales team, offer them to the next rep."""
    return handoff_sla_sweep()
