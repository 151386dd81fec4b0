"""Helpers shared by the scoring tests."""

from datetime import timedelta

from django.utils import timezone

from leads.models import EngagementEvent, Lead, PendingActivity
from leads.services import lead_mark_score_stale
from scoring import engine
from scoring.selectors import LEAD_FACT_FIELDS, engine_ruleset, events_by_lead, lead_facts
from scoring.services import ruleset_ensure_published


def event(event_type: str, *, days_ago: float = 0, **properties) -> dict:
    return {
        "event_type": event_type,
        "occurred_at": timezone.now() - timedelta(days=days_ago),
        "properties": properties,
    }


def from_scratch(lead: Lead) -> engine.ScoreResult:
    """What the engine says about a lead, computed now from its stored events, as of its scored_at."""
    lead.refresh_from_db()
    ruleset = engine_ruleset(ruleset_ensure_published())
    row = Lead.objects.filter(pk=lead.pk).values_list(*LEAD_FACT_FIELDS).get()
    events = events_by_lead([lead.pk], ruleset).get(lead.pk, [])
    return engine.score_lead(lead_facts(row), events, ruleset, lead.scored_at.timestamp())


def store_events_quietly(lead: Lead, items: list[dict]) -> None:
    """Events stored and the lead marked, as if the nudge had been lost."""
    EngagementEvent.objects.bulk_create(
        EngagementEvent(lead=lead, event_type=i["event_type"], occurred_at=i["occurred_at"], properties=i["properties"])
        for i in items
    )
    lead_mark_score_stale(lead_ids=[lead.pk], nudge=False)


def queued_lead_ids() -> set[int]:
    """Every lead the pending-activity queue names: what the scoring worker will take."""
    return {entry["l"] for row in PendingActivity.objects.all() for entry in row.activity}
