"""Recompute: events stored -> stale mark -> nudge -> drain -> score, breakdown and moves."""

import pytest
from django.utils import timezone

from leads.activity import pending_activity_take
from leads.models import Handoff, HandoffStatus, Lead, StageChange
from leads.services import events_record, lead_claim, lead_mark_score_stale, lead_transition
from scoring import services
from scoring.selectors import LEAD_FACT_FIELDS, engine_ruleset
from scoring.services import _score_locked, scores_recompute_stale
from tests.factories import LeadFactory, UserFactory

from .helpers import event, from_scratch, store_events_quietly

pytestmark = pytest.mark.django_db

PLAIN = {"job_title": "Engineer", "company_size": 10, "industry": "Retail", "country": "BR", "email": "pat@acme.io"}


def record(lead, items, capture):
    with capture(execute=True):
        events_record(lead=lead, events=items, source="test")
    lead.refresh_from_db()
    return lead


def test_stored_events_are_scored_after_commit_with_a_breakdown(django_capture_on_commit_callbacks):
    lead = LeadFactory(job_title="VP Marketing", company_size=200, industry="Software", country="US")
    record(
        lead,
        [event("content_download"), event("page_view", url="https://x.io/pricing")],
        django_capture_on_commit_callbacks,
    )

    assert lead.score_stale is False
    assert lead.score_stale_since is None
    assert lead.score_ruleset_version == 1
    assert lead.scored_at is not None
    assert (lead.fit_score, lead.engagement_score) == (15 + 10 + 10 + 5, 8 + 1 + 5)
    assert lead.score == lead.fit_score + lead.engagement_score
    rules = {(item["kind"], item["rule"]): item["points"] for item in lead.score_breakdown}
    assert rules == {
        ("fit", "Senior title"): 15,
        ("fit", "Company of 50+"): 10,
        ("fit", "Target industry"): 10,
        ("fit", "Core market"): 5,
        ("engagement", "Content download"): 8,
        ("engagement", "Page view"): 1,
        ("engagement", "Pricing page view"): 5,
    }
    expected = from_scratch(lead)
    assert (lead.score, lead.score_breakdown) == (expected.total, expected.breakdown)


def test_score_reaching_the_mql_threshold_moves_the_lead_with_an_audit_row(django_capture_on_commit_callbacks):
    lead = LeadFactory(job_title="Head of Growth", company_size=200, industry="Software", country="US")  # fit 40
    record(lead, [event("content_download"), event("webinar_attended"), event("webinar_registered")],
           django_capture_on_commit_callbacks)  # fmt: skip

    assert lead.score == 63
    assert lead.stage == "mql"
    change = StageChange.objects.get(lead=lead)
    assert (change.from_stage, change.to_stage, change.actor_id, change.actor_label) == ("lead", "mql", None, "scoring")
    assert change.reason == "score 63 reached MQL threshold 60 (rule set v1)"


def test_a_high_intent_event_makes_an_sql_and_opens_a_handoff_to_sales(django_capture_on_commit_callbacks):
    lead = LeadFactory(**PLAIN)
    record(lead, [event("demo_request")], django_capture_on_commit_callbacks)

    assert lead.stage == "sql"
    change = StageChange.objects.get(lead=lead)
    assert change.actor_label == "scoring"
    assert change.reason.startswith("high-intent event demo_request (score ")
    handoff = Handoff.objects.get(lead=lead)
    assert (handoff.status, handoff.kind, handoff.opened_by_label) == (
        HandoffStatus.OPEN,
        "marketing_to_sales",
        "scoring",
    )


def test_product_signals_make_a_pql_with_a_handoff(django_capture_on_commit_callbacks):
    lead = LeadFactory(**PLAIN)
    record(lead, [event("trial_started")] + [event("product_active_day")] * 5, django_capture_on_commit_callbacks)

    assert lead.stage == "pql"
    assert StageChange.objects.get(lead=lead).reason == "product signals 40 reached PQL threshold 40 (rule set v1)"
    assert Handoff.objects.get(lead=lead).kind == "product_to_sales"


def test_a_claimed_lead_is_never_moved_by_scoring(django_capture_on_commit_callbacks):
    lead = LeadFactory(**PLAIN)
    record(lead, [event("trial_started")] + [event("product_active_day")] * 5, django_capture_on_commit_callbacks)
    rep = UserFactory(roles=["sales"])
    lead_claim(lead_id=lead.pk, user=rep)

    record(lead, [event("demo_request")], django_capture_on_commit_callbacks)

    assert lead.stage == "pql"
    assert lead.owner_id == rep.pk
    assert lead.score_stale is False
    assert StageChange.objects.filter(lead=lead).count() == 1


def test_automatic_moves_only_go_forward(django_capture_on_commit_callbacks):
    lead = LeadFactory(**PLAIN)
    lead_transition(lead_id=lead.pk, to_stage="disqualified", actor_label="test", reason="spam")
    record(lead, [event("demo_request")] * 3, django_capture_on_commit_callbacks)
    assert lead.stage == "disqualified"


def test_a_recycled_lead_is_not_sent_back_by_the_event_that_moved_it(django_capture_on_commit_callbacks):
    lead = LeadFactory(**PLAIN)
    record(lead, [event("demo_request")], django_capture_on_commit_callbacks)
    lead_transition(lead_id=lead.pk, to_stage="mql", actor_label="rep", reason="not ready")
    record(lead, [event("page_view")], django_capture_on_commit_callbacks)
    assert lead.stage == "mql"
    record(lead, [event("contact_sales")], django_capture_on_commit_callbacks)
    assert lead.stage == "sql"


def test_recompute_is_idempotent(django_capture_on_commit_callbacks):
    lead = LeadFactory(job_title="Director", company_size=200, industry="Software", country="US")
    record(lead, [event("content_download")] * 4, django_capture_on_commit_callbacks)
    first = (lead.score, lead.score_breakdown, lead.stage)
    changes = StageChange.objects.filter(lead=lead).count()

    services.leads_score_now(lead_ids=[lead.pk])
    services.leads_score_now(lead_ids=[lead.pk])
    lead_mark_score_stale(lead_ids=[lead.pk])
    scores_recompute_stale()
    scores_recompute_stale()

    lead.refresh_from_db()
    assert (lead.score, lead.score_breakdown, lead.stage) == first
    assert StageChange.objects.filter(lead=lead).count() == changes


def test_a_mark_made_after_the_take_is_kept():
    """The worker clears the mark only if score_stale_since is still the one it read (SQLite has
    no row lock to make the newer mark wait)."""
    lead = LeadFactory(**PLAIN)
    store_events_quietly(lead, [event("page_view")])
    rows = pending_activity_take(leads=10, columns=(*LEAD_FACT_FIELDS, "score_stale_since"))
    assert [row[0] for row in rows] == [lead.pk]
    # A newer event arrives and marks the lead while the batch is being scored.
    Lead.objects.filter(pk=lead.pk).update(score_stale_since=timezone.now() + timezone.timedelta(seconds=1))

    _score_locked([row[:-1] for row in rows], engine_ruleset(services.ruleset_ensure_published()), timezone.now())

    lead.refresh_from_db()
    assert lead.score_stale is True
    assert lead.scored_at is not None


def test_the_drain_scores_every_stale_lead_in_batches():
    leads = [LeadFactory(**{**PLAIN, "email": f"p{i}@acme.io"}) for i in range(7)]
    for lead in leads:
        store_events_quietly(lead, [event("email_click")] * 2)

    outcome = scores_recompute_stale(batch_size=3)

    assert (outcome.leads, outcome.events) == (7, 14)
    assert outcome.batches == 3
    assert not Lead.objects.filter(score_stale=True).exists()
    for lead in leads:
        lead.refresh_from_db()
        assert lead.engagement_score == 6


def test_only_events_that_a_rule_names_are_read():
    lead = LeadFactory(**PLAIN)
    store_events_quietly(lead, [event("custom_thing")] * 5 + [event("email_open")])
    outcome = scores_recompute_stale()
    assert outcome.events == 1


def test_old_engagement_decays():
    lead = LeadFactory(**PLAIN)
    store_events_quietly(lead, [event("webinar_attended", days_ago=60)])  # half-life 60 days: 10 -> 5
    scores_recompute_stale()
    lead.refresh_from_db()
    assert lead.engagement_score == 5
    assert lead.score_breakdown[-1] == {
        "kind": "engagement",
        "rule_id": lead.score_breakdown[-1]["rule_id"],
        "rule": "Webinar attended",
        "points": 5,
        "events": 1,
        "decayed": True,
    }


def test_a_missing_rule_set_is_recreated_from_the_defaults():
    from scoring.models import RuleSet

    RuleSet.objects.all().delete()
    ruleset = services.ruleset_ensure_published()
    assert (ruleset.version, ruleset.status, ruleset.mql_threshold) == (1, "published", 60)
    assert ruleset.engagement_rules.count() > 10
    assert services.ruleset_ensure_published() == ruleset
