"""The pure engine: no database, no Django models, no clock."""

from datetime import UTC, datetime, timedelta

import pytest

from scoring.engine import (
    EngagementRule,
    Event,
    FitKind,
    FitRule,
    FitScorer,
    LeadFacts,
    RuleSet,
    decide_move,
    projected_stage,
    round_half_away,
    score_lead,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=400)


def ruleset(engagement=(), fit=(), **kwargs):
    defaults = {
        "mql_threshold": 60,
        "pql_threshold": 40,
        "pql_event_types": {"product_active_day", "trial_started"},
        "high_intent_event_types": {"demo_request", "contact_sales"},
        "version": 3,
    }
    defaults.update(kwargs)
    return RuleSet(engagement_rules=list(engagement), fit_rules=list(fit), **defaults)


def ev(event_type, days_ago=0.0, **properties):
    at = NOW - timedelta(days=days_ago)
    return Event.at(event_type, at, **properties)


def score(lead, events, rules):
    return score_lead(lead, events, rules, NOW.timestamp())


def test_a_lead_without_rules_or_events_scores_zero():
    result = score(LeadFacts(), [], ruleset())
    assert (result.fit, result.engagement, result.total, result.breakdown) == (0, 0, 0, [])


@pytest.mark.parametrize(
    ("kind", "values", "threshold", "lead", "matches"),
    [
        (FitKind.JOB_TITLE_CONTAINS, ("vp", "director"), None, LeadFacts(job_title="VP of Sales"), True),
        (FitKind.JOB_TITLE_CONTAINS, ("vp", "director"), None, LeadFacts(job_title="Marketing Director"), True),
        (FitKind.JOB_TITLE_CONTAINS, ("vp",), None, LeadFacts(job_title="Engineer"), False),
        (FitKind.JOB_TITLE_CONTAINS, ("vp",), None, LeadFacts(job_title=""), False),
        (FitKind.COMPANY_SIZE_AT_LEAST, (), 50, LeadFacts(company_size=50), True),
        (FitKind.COMPANY_SIZE_AT_LEAST, (), 50, LeadFacts(company_size=49), False),
        (FitKind.COMPANY_SIZE_AT_LEAST, (), 50, LeadFacts(company_size=None), False),
        (FitKind.INDUSTRY_IN, ("Software", "SaaS"), None, LeadFacts(industry="software"), True),
        (FitKind.INDUSTRY_IN, ("Software",), None, LeadFacts(industry="Retail"), False),
        (FitKind.COUNTRY_IN, ("US", "de"), None, LeadFacts(country="DE"), True),
        (FitKind.COUNTRY_IN, ("US",), None, LeadFacts(country="FR"), False),
        (FitKind.EMAIL_FREE_MAIL, (), None, LeadFacts(email="jo@gmail.com"), True),
        (FitKind.EMAIL_FREE_MAIL, ("example.org",), None, LeadFacts(email="jo@example.org"), True),
        (FitKind.EMAIL_FREE_MAIL, (), None, LeadFacts(email="jo@acme.com"), False),
        (FitKind.EMAIL_COMPETITOR, ("rival.com",), None, LeadFacts(email="jo@rival.com"), True),
        (FitKind.EMAIL_COMPETITOR, ("rival.com",), None, LeadFacts(email="jo@eu.rival.com"), True),
        (FitKind.EMAIL_COMPETITOR, ("rival.com",), None, LeadFacts(email="jo@notrival.com"), False),
        (FitKind.EMAIL_COMPETITOR, (), None, LeadFacts(email="jo@rival.com"), False),
    ],
)
def test_fit_rule_conditions(kind, values, threshold, lead, matches):
    rule = FitRule(name="r", kind=kind, points=7, values=values, threshold=threshold)
    result = score(lead, [], ruleset(fit=[rule]))
    assert result.fit == (7 if matches else 0)


def test_fit_points_add_up_and_negative_points_subtract():
    rules = [
        FitRule(name="Senior", kind=FitKind.JOB_TITLE_CONTAINS, points=15, values=("vp",), id=1),
        FitRule(name="Free mail", kind=FitKind.EMAIL_FREE_MAIL, points=-10, id=2),
        FitRule(name="Big", kind=FitKind.COMPANY_SIZE_AT_LEAST, points=10, threshold=1000, id=3),
    ]
    result = score(LeadFacts(job_title="VP", email="x@gmail.com", company_size=10), [], ruleset(fit=rules))
    assert result.fit == 5
    assert result.breakdown == [
        {"kind": "fit", "rule_id": 1, "rule": "Senior", "points": 15},
        {"kind": "fit", "rule_id": 2, "rule": "Free mail", "points": -10},
    ]


def test_fit_matches_remembered_per_value_equal_matching_each_rule_in_rule_order(monkeypatch):
    monkeypatch.setattr(FitScorer, "MAX_KNOWN", 3)  # the memory is emptied again and again
    rules = [
        FitRule(name="Free mail", kind=FitKind.EMAIL_FREE_MAIL, points=-10, id=1),
        FitRule(name="Senior", kind=FitKind.JOB_TITLE_CONTAINS, points=15, values=("vp", "chief"), id=2),
        FitRule(name="Big", kind=FitKind.COMPANY_SIZE_AT_LEAST, points=10, threshold=1000, id=3),
        FitRule(name="Rival", kind=FitKind.EMAIL_COMPETITOR, points=-50, values=("rival.com",), id=4),
        FitRule(name="Software", kind=FitKind.INDUSTRY_IN, points=5, values=("Software",), id=5),
        FitRule(name="VP", kind=FitKind.JOB_TITLE_CONTAINS, points=3, values=("vp",), id=6),
    ]
    rules_set = ruleset(fit=rules)
    leads = [
        LeadFacts(job_title=title, email=email, company_size=size, industry=industry)
        for title in ("VP Sales", "Chief of staff", "", "Engineer")
        for email in ("a@gmail.com", "b@eu.rival.com", "c@acme.io", "")
        for size in (None, 5000)
        for industry in ("software", "Retail")
    ]
    for lead in leads * 2:
        expected = [rule for rule in rules if rule.matches(lead)]
        result = score(lead, [], rules_set)
        assert result.fit == sum(rule.points for rule in expected)
        assert [item["rule_id"] for item in result.breakdown] == [rule.id for rule in expected]
        assert rules_set.fit_scorer.points(
            lead.job_title, lead.company_size, lead.industry, lead.country, lead.email
        ) == sum(rule.points for rule in expected)


def test_engagement_points_per_event_with_breakdown():
    rule = EngagementRule(name="Download", event_type="content_download", points=8, id=5)
    result = score(LeadFacts(), [ev("content_download"), ev("content_download"), ev("page_view")], ruleset([rule]))
    assert result.engagement == 16
    assert result.total == 16
    assert result.breakdown == [
        {"kind": "engagement", "rule_id": 5, "rule": "Download", "points": 16, "events": 2},
    ]


def test_cap_limits_what_one_rule_adds_and_is_shown():
    rule = EngagementRule(name="Page view", event_type="page_view", points=1, cap=5)
    result = score(LeadFacts(), [ev("page_view")] * 9, ruleset([rule]))
    assert result.engagement == 5
    assert result.breakdown[0]["capped"] is True
    assert result.breakdown[0]["events"] == 9


def test_negative_points_and_their_cap():
    rule = EngagementRule(name="Unsubscribe", event_type="unsubscribe", points=-20, cap=30)
    assert score(LeadFacts(), [ev("unsubscribe")], ruleset([rule])).engagement == -20
    assert score(LeadFacts(), [ev("unsubscribe")] * 3, ruleset([rule])).engagement == -30


@pytest.mark.parametrize(("days_ago", "points"), [(0, 40), (10, 20), (20, 10), (30, 5), (-5, 40)])
def test_decay_halves_points_every_half_life(days_ago, points):
    rule = EngagementRule(name="Webinar", event_type="webinar_attended", points=40, half_life_days=10)
    result = score(LeadFacts(), [ev("webinar_attended", days_ago=days_ago)], ruleset([rule]))
    assert result.engagement == points
    assert result.breakdown[0]["decayed"] is True


def test_decay_applies_before_the_cap():
    rule = EngagementRule(name="Page view", event_type="page_view", points=10, cap=15, half_life_days=10)
    # 10 + 5 + 2.5 = 17.5 -> capped at 15
    events = [ev("page_view", 0), ev("page_view", 10), ev("page_view", 20)]
    assert score(LeadFacts(), events, ruleset([rule])).engagement == 15


@pytest.mark.parametrize(
    ("operator", "expected", "properties", "matches"),
    [
        ("contains", "/pricing", {"url": "https://x.io/pricing?plan=pro"}, True),
        ("contains", "/pricing", {"url": "https://x.io/blog"}, False),
        ("contains", "/PRICING", {"url": "https://x.io/pricing"}, True),
        ("equals", "Buyer guide", {"content": "buyer guide"}, True),
        ("equals", "Buyer guide", {"content": "Buyer guide 2"}, False),
        ("equals", "Buyer guide", {}, False),
        ("equals", "42", {"content": 42}, True),
    ],
)
def test_property_match(operator, expected, properties, matches):
    key = "url" if "pricing" in expected.lower() else "content"
    rule = EngagementRule(
        name="r",
        event_type="page_view",
        points=5,
        property_key=key,
        property_operator=operator,
        property_value=expected,
    )
    result = score(LeadFacts(), [ev("page_view", **properties)], ruleset([rule]))
    assert result.engagement == (5 if matches else 0)


def test_an_event_can_match_several_rules():
    rules = [
        EngagementRule(name="Page view", event_type="page_view", points=1),
        EngagementRule(
            name="Pricing", event_type="page_view", points=5, property_key="url", property_operator="contains",
            property_value="/pricing",
        ),
    ]  # fmt: skip
    result = score(LeadFacts(), [ev("page_view", url="/pricing")], ruleset(rules))
    assert result.engagement == 6
    assert [item["rule"] for item in result.breakdown] == ["Page view", "Pricing"]


def test_rounding_is_half_away_from_zero():
    assert [round_half_away(x) for x in (0.5, 1.5, 2.5, -0.5, -2.5, 2.49)] == [1, 2, 3, -1, -3, 2]


def test_scores_are_deterministic_whatever_the_event_order():
    rules = [
        EngagementRule(name="Page view", event_type="page_view", points=3, cap=10, half_life_days=7),
        EngagementRule(name="Click", event_type="email_click", points=2, half_life_days=3),
    ]
    events = [ev("page_view", d) for d in (0, 1.5, 4, 9)] + [ev("email_click", d) for d in (0.2, 2, 30)]
    first = score(LeadFacts(), events, ruleset(rules))
    second = score(LeadFacts(), list(reversed(events)), ruleset(rules))
    assert first == second


# --- Moves ----------------------------------------------------------------------------------

ENGAGEMENT = [
    EngagementRule(name="Demo", event_type="demo_request", points=30),
    EngagementRule(name="Download", event_type="content_download", points=20),
    EngagementRule(name="Active day", event_type="product_active_day", points=10),
    EngagementRule(name="Trial", event_type="trial_started", points=15),
]


def decide(stage, events, has_owner=False, stage_changed=LONG_AGO, **kwargs):
    rules = ruleset(ENGAGEMENT, **kwargs)
    lead = LeadFacts(stage=stage, has_owner=has_owner, stage_changed_at=stage_changed.timestamp())
    return decide_move(lead, score(lead, events, rules), rules)


def test_score_reaching_the_mql_threshold_makes_an_mql_with_the_numbers_in_the_reason():
    move = decide("lead", [ev("content_download")] * 3)
    assert move.to_stage == "mql"
    assert move.reason == "score 60 reached MQL threshold 60 (rule set v3)"


def test_below_the_mql_threshold_nothing_moves():
    assert decide("lead", [ev("content_download")] * 2) is None


@pytest.mark.parametrize("stage", ["lead", "mql", "pql"])
def test_a_high_intent_event_makes_an_sql_at_once(stage):
    move = decide(stage, [ev("demo_request")])
    assert move.to_stage == "sql"
    assert move.reason.startswith("high-intent event demo_request")
    assert "rule set v3" in move.reason


@pytest.mark.parametrize("stage", ["lead", "mql"])
def test_product_signals_past_the_pql_threshold_make_a_pql(stage):
    move = decide(stage, [ev("trial_started")] + [ev("product_active_day")] * 3)
    assert move.to_stage == "pql"
    assert move.reason == "product signals 45 reached PQL threshold 40 (rule set v3)"


@pytest.mark.parametrize("stage", ["sql", "customer", "disqualified", "service_qualified"])
def test_automatic_moves_only_go_forward(stage):
    events = [ev("demo_request"), ev("trial_started")] + [ev("product_active_day")] * 5 + [ev("content_download")] * 3
    assert decide(stage, events) is None


def test_an_mql_is_not_moved_again_by_the_mql_threshold():
    assert decide("mql", [ev("content_download")] * 5) is None


def test_a_claimed_lead_is_never_moved():
    assert decide("pql", [ev("demo_request")], has_owner=True) is None


def test_events_received_before_the_last_stage_change_do_not_move_it_again():
    # A rep recycled the SQL to MQL after its demo request: the old request must not send it back.
    recycled_at = NOW - timedelta(hours=1)
    assert decide("mql", [ev("demo_request", days_ago=1)], stage_changed=recycled_at) is None
    move = decide("mql", [ev("demo_request", days_ago=1), ev("demo_request")], stage_changed=recycled_at)
    assert move.to_stage == "sql"


def test_sql_wins_over_pql_and_mql():
    events = [ev("demo_request"), ev("trial_started")] + [ev("product_active_day")] * 5
    assert decide("lead", events).to_stage == "sql"


def test_projected_stage():
    rules = ruleset(ENGAGEMENT)
    lead = LeadFacts(stage="lead")
    assert projected_stage(lead, score(lead, [ev("content_download")] * 3, rules), rules) == "mql"
    assert projected_stage(lead, score(lead, [], rules), rules) == "lead"


def test_relevant_event_types_name_what_the_worker_must_load():
    rules = ruleset(
        [EngagementRule(name="p", event_type="page_view", points=1, property_key="url", property_operator="contains",
                        property_value="/x")]
    )  # fmt: skip
    assert rules.relevant_event_types() == {
        "page_view",
        "demo_request",
        "contact_sales",
        "product_active_day",
        "trial_started",
    }
    assert rules.event_types_with_property_rules() == {"page_view"}


def test_draft_label():
    rules = ruleset(ENGAGEMENT, version=None)
    lead = LeadFacts(stage="lead")
    move = decide_move(lead, score(lead, [ev("content_download")] * 3, rules), rules)
    assert move.reason.endswith("(draft rule set)")
