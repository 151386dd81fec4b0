"""The what-if preview gives every lead exactly the score and the move the worker would.

On PostgreSQL the preview sums, caps and rounds engagement in one SQL query per chunk and matches
fit rules once per distinct value; this compares it, lead by lead, with the engine's own
score_lead() over the events read back, and with the worker's path (rule_totals_by_lead() +
score_totals()), on a data set built to reach every rule kind, caps, decay (including sums that
land exactly on a half point), negative points, property matches and every automatic move.
"""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import EngagementEvent, Lead
from leads.stages import Stage
from scoring import engine, services
from scoring.preview import lead_outcomes, ruleset_preview
from scoring.selectors import LEAD_FACT_FIELDS, engine_ruleset, events_by_lead, lead_facts, rule_totals_by_lead
from tests.factories import LeadFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

TITLES = ["VP Marketing", "  head of IT", "Engineer", "STUDENT", "", "Chief Executive", "Intern", "Sales Lead"]
SIZES = [None, 5, 49, 50, 999, 1000, 25000]
INDUSTRIES = ["Software", " saas ", "Retail", "", "Financial Services", "FINTECH"]
COUNTRIES = ["US", "de", "gb", "BR", "", "JP"]
DOMAINS = ["gmail.com", "GMAIL.com", "acme.io", "rival.com", "eu.rival.com", "notrival.com", "mailbox.org", "big.co"]
TYPES = [
    "page_view", "page_view", "page_view", "email_click", "content_download", "webinar_attended",
    "demo_request", "product_active_day", "feature_used", "unsubscribe", "untracked_type",
]  # fmt: skip
URLS = ["https://acme.io/pricing", "https://acme.io/PRICING/pro", "/blog", "/Blog", None]


def varied_draft():
    """A draft whose rules use every kind of condition, caps, decay and negative points."""
    draft = services.ruleset_create_draft()
    draft.engagement_rules.all().delete()
    draft.fit_rules.all().delete()
    services.ruleset_update(
        ruleset=draft,
        mql_threshold=25,
        pql_threshold=12,
        pql_event_types=["product_active_day", "feature_used"],
        high_intent_event_types=["demo_request"],
    )
    rules = [
        {"name": "Page", "event_type": "page_view", "points": 1, "half_life_days": 30},
        {"name": "Pricing", "event_type": "page_view", "property_key": "url", "property_operator": "contains",
         "property_value": "/Pricing", "points": 5, "cap": 12, "half_life_days": 10},
        {"name": "Blog exact", "event_type": "page_view", "property_key": "url", "property_operator": "equals",
         "property_value": "/BLOG", "points": -1, "half_life_days": 30},
        {"name": "Click", "event_type": "email_click", "points": 3, "cap": 7},
        {"name": "Download", "event_type": "content_download", "points": 8, "cap": 20, "half_life_days": 60},
        {"name": "Webinar", "event_type": "webinar_attended", "points": 10, "half_life_days": 1.5},
        {"name": "Demo", "event_type": "demo_request", "points": 30, "cap": 30},
        {"name": "Active day", "event_type": "product_active_day", "points": 5, "cap": 25, "half_life_days": 30},
        {"name": "Feature", "event_type": "feature_used", "points": 3, "half_life_days": 7},
        {"name": "Unsubscribed", "event_type": "unsubscribe", "points": -20, "cap": 25},
    ]  # fmt: skip
    for position, rule in enumerate(rules):
        services.engagement_rule_create(ruleset=draft, position=position, **rule)
    fit_rules = [
        {"name": "Senior", "kind": "job_title_contains", "values": ["vp", "chief", "head of"], "points": 15},
        {"name": "Student", "kind": "job_title_contains", "values": ["student", "intern"], "points": -15},
        {"name": "50+", "kind": "company_size_at_least", "threshold": 50, "points": 10},
        {"name": "1,000+", "kind": "company_size_at_least", "threshold": 1000, "points": 5},
        {"name": "Industry", "kind": "industry_in", "values": ["software", "SaaS", "Financial Services"], "points": 7},
        {"name": "Market", "kind": "country_in", "values": ["us", "GB", "DE"], "points": 4},
        {"name": "Free mail", "kind": "email_free_mail", "values": ["mailbox.org"], "points": -10},
        {"name": "Competitor", "kind": "email_competitor", "values": ["@rival.com"], "points": -50},
    ]
    for position, rule in enumerate(fit_rules):
        services.fit_rule_create(ruleset=draft, position=position, **rule)
    return draft


@pytest.fixture
def varied_leads():
    """60 leads with varied facts, stages, owners and events; `now` without microseconds so
    that an event exactly one half-life old is worth exactly half its points."""
    rng = random.Random(11)
    now = timezone.now().replace(microsecond=0)
    rep = UserFactory(roles=["sales"])
    leads = []
    for i in range(60):
        leads.append(
            LeadFactory(
                email=f"p{i}@{rng.choice(DOMAINS)}",
                job_title=rng.choice(TITLES),
                company_size=rng.choice(SIZES),
                industry=rng.choice(INDUSTRIES),
                country=rng.choice(COUNTRIES),
                stage=rng.choice([Stage.LEAD] * 4 + [Stage.MQL, Stage.PQL, Stage.SQL, Stage.CUSTOMER]),
                owner=rep if i % 9 == 4 else None,
                score=rng.randrange(-20, 80),
            )
        )
    events = []
    for lead in leads[3:-5]:  # the first three get the events below; the last five none at all
        for _ in range(rng.randrange(0, 40)):
            url = rng.choice(URLS)
            events.append(
                EngagementEvent(
                    lead=lead,
                    event_type=rng.choice(TYPES),
                    occurred_at=now - timedelta(days=rng.uniform(-2, 150)),  # a few in the future
                    properties={} if url is None else {"url": url},
                )
            )
    # Half points exactly: one page view (1 point, half-life 30 days) 30 days old is 0.5, which
    # rounds up to 1; one exact blog view (-1 point) 30 days old is -0.5, which rounds to -1.
    half = leads[0]
    events += [
        EngagementEvent(lead=half, event_type="page_view", occurred_at=now - timedelta(days=30), properties={}),
        EngagementEvent(lead=leads[1], event_type="page_view", occurred_at=now - timedelta(days=30),
                        properties={"url": "/blog"}),
    ]  # fmt: skip
    # And a lead with product use only: a PQL.
    Lead.objects.filter(pk=leads[2].pk).update(stage=Stage.LEAD)
    events += [
        EngagementEvent(lead=leads[2], event_type="product_active_day", occurred_at=now - timedelta(days=1))
        for _ in range(4)
    ]
    EngagementEvent.objects.bulk_create(events)
    # Most leads changed stage long ago (their events are fresh); some just now, after their events.
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(stage_changed_at=now - timedelta(days=400))
    Lead.objects.filter(pk__in=[lead.pk for lead in leads[::7]]).update(stage_changed_at=now + timedelta(hours=1))
    return leads, now


def expected_outcomes(rules, now, lead_ids):
    """Per lead: (stage, stored score, score, move) by score_lead() and by the worker's path."""
    rows = Lead.objects.filter(pk__in=lead_ids).order_by("id").values_list(*LEAD_FACT_FIELDS, "score")
    events = events_by_lead(lead_ids, rules)
    worker_totals = rule_totals_by_lead(lead_ids=lead_ids, ruleset=rules, now=now)
    by_engine, by_worker, results = {}, {}, {}
    for row in rows:
        facts = lead_facts(row[:9])
        for target, result in (
            (by_engine, engine.score_lead(facts, events.get(row[0], ()), rules, now)),
            (by_worker, engine.score_totals(facts, worker_totals.get(row[0], engine.RuleTotals()), rules)),
        ):
            move = engine.decide_move(facts, result, rules)
            target[row[0]] = (facts.stage, row[9], result.total, move.to_stage if move else None)
        results[row[0]] = result
    return by_engine, by_worker, results


def test_preview_gives_every_lead_the_workers_score_and_move(varied_leads):
    leads, now = varied_leads
    draft = varied_draft()
    rules = engine_ruleset(draft)
    lead_ids = [lead.pk for lead in leads]

    by_engine, by_worker, results = expected_outcomes(rules, now.timestamp(), lead_ids)
    previewed = {
        lead_id: (stage, current, proposed, target)
        for chunk in lead_outcomes(rules=rules, now=now.timestamp(), chunk_size=7)
        for lead_id, stage, current, proposed, target in chunk
    }

    assert previewed == by_engine
    assert previewed == by_worker
    # The data set reaches what it is meant to: otherwise the equality above proves little.
    breakdown = [item for result in results.values() for item in result.breakdown]
    assert {item["rule"] for item in breakdown if item["kind"] == "fit"} == {
        "Senior", "Student", "50+", "1,000+", "Industry", "Market", "Free mail", "Competitor",
    }  # fmt: skip
    assert any(item.get("capped") for item in breakdown)
    assert any(item["points"] < 0 for item in breakdown if item["kind"] == "engagement")
    assert {"Pricing", "Blog exact"} <= {item["rule"] for item in breakdown}
    assert {target for *_, target in by_engine.values()} >= {Stage.MQL, Stage.SQL, Stage.PQL, None}
    assert min(total for _, _, total, _ in by_engine.values()) < 0
    assert results[leads[0].pk].engagement == 1  # 0.5 rounds away from zero ...
    assert results[leads[1].pk].engagement == 0  # ... and so does -0.5 (-1) next to +0.5 (+1)


def test_preview_summary_counts_what_the_engine_says(varied_leads):
    leads, now = varied_leads
    draft = varied_draft()
    by_engine, _, _ = expected_outcomes(engine_ruleset(draft), now.timestamp(), [lead.pk for lead in leads])

    result = ruleset_preview(ruleset=draft, now=now, chunk_size=16)

    moves = Counter(target for *_, target in by_engine.values() if target)
    assert result["leads"] == len(leads)
    assert result["newly"] == {stage: moves.get(stage, 0) for stage in (Stage.MQL, Stage.SQL, Stage.PQL)}
    proposed_stages = Counter(target or stage for stage, _, _, target in by_engine.values())
    current_stages = Counter(stage for stage, *_ in by_engine.values())
    for row in result["stages"]:
        assert (row["current"], row["proposed"]) == (current_stages[row["stage"]], proposed_stages[row["stage"]])
    ups = sum(proposed > current for _, current, proposed, _ in by_engine.values())
    downs = sum(proposed < current for _, current, proposed, _ in by_engine.values())
    assert result["score_changes"] == {"up": ups, "down": downs, "same": len(leads) - ups - downs}
    assert result["proposed"]["median"] == sorted(total for _, _, total, _ in by_engine.values())[len(leads) // 2]


def test_a_draft_without_rules_or_signals_scores_every_lead_zero(varied_leads):
    leads, now = varied_leads
    draft = services.ruleset_create_draft()
    draft.engagement_rules.all().delete()
    draft.fit_rules.all().delete()
    services.ruleset_update(ruleset=draft, mql_threshold=1, pql_event_types=[], high_intent_event_types=[])

    result = ruleset_preview(ruleset=draft, now=now)

    assert result["leads"] == len(leads)
    assert result["proposed"]["histogram"][1] == len(leads)  # every score in 0-9: all zero
    assert result["proposed"]["mean"] == 0
    assert result["newly"] == {"mql": 0, "sql": 0, "pql": 0}
