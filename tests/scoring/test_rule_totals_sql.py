"""The preview's PostgreSQL aggregation sums events exactly as the engine does in Python."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import EngagementEvent, Lead
from scoring import engine, services
from scoring.selectors import LEAD_FACT_FIELDS, engine_ruleset, events_by_lead, lead_facts, rule_totals_by_lead
from tests.factories import LeadFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TYPES = ["page_view", "email_click", "webinar_attended", "demo_request", "product_active_day", "unsubscribe", "x"]
URLS = ["https://acme.io/pricing", "https://acme.io/PRICING/pro", "/blog", None]


def test_sql_sums_match_the_engine():
    rng = random.Random(3)
    now = timezone.now()
    leads = [LeadFactory(email=f"sql{i}@acme.io") for i in range(12)]
    EngagementEvent.objects.bulk_create(
        EngagementEvent(
            lead=rng.choice(leads),
            event_type=rng.choice(TYPES),
            occurred_at=now - timedelta(days=rng.uniform(-1, 200)),
            properties={} if (url := rng.choice(URLS)) is None else {"url": url},
        )
        for _ in range(400)
    )
    draft = services.ruleset_create_draft()
    services.engagement_rule_create(
        ruleset=draft, name="Exact", event_type="page_view", property_key="url", property_operator="equals",
        property_value="/BLOG", points=-2, half_life_days=3,
    )  # fmt: skip
    rules = engine_ruleset(draft)
    ids = [lead.pk for lead in leads]

    in_sql = rule_totals_by_lead(after_id=min(ids) - 1, upto_id=max(ids), ruleset=rules, now=now.timestamp())
    events = events_by_lead(ids, rules)
    for row in Lead.objects.filter(pk__in=ids).values_list(*LEAD_FACT_FIELDS):
        facts = lead_facts(row)
        in_python = engine.sum_events(facts, events.get(row[0], ()), rules, now.timestamp())
        from_sql = in_sql.get(row[0], engine.RuleTotals())
        assert from_sql.counts == in_python.counts
        assert from_sql.sums.keys() == in_python.sums.keys()
        for position, value in in_python.sums.items():
            assert from_sql.sums[position] == pytest.approx(value, rel=1e-9, abs=1e-9)
        assert (from_sql.fresh_high_intent, from_sql.fresh_product) == (
            in_python.fresh_high_intent,
            in_python.fresh_product,
        )
        assert engine.score_totals(facts, from_sql, rules).total == engine.score_totals(facts, in_python, rules).total
