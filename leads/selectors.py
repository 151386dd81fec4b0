"""Reads of the leads app."""

from django.db.models import Count, QuerySet

from .models import Lead, StageChange
from .stages import Stage


def pipeline_counts() -> list[dict]:
    """Leads per stage, every stage listed (zero included), in funnel order."""
    counts = dict(Lead.objects.values_list("stage").annotate(n=Count("id")).values_list("stage", "n"))
    return [{"stage": stage.value, "label": stage.label, "count": counts.get(stage.value, 0)} for stage in Stage]


def recent_stage_changes(*, limit: int = 20) -> QuerySet[StageChange]:
    return StageChange.objects.select_related("lead", "actor").order_by("-created_at", "-id")[:limit]
