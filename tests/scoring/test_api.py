"""The scoring API: marketing and admins only; rules and thresholds of the draft; publish; progress."""

import pytest
from rest_framework.test import APIClient

from leads.models import Lead
from scoring.models import RescoreJob, RuleSet
from scoring.services import scores_recompute_stale
from tests.factories import LeadFactory, UserFactory

from .helpers import event, store_events_quietly

pytestmark = pytest.mark.django_db

BASE = "/api/v1/scoring"


@pytest.fixture
def api(marketer):
    client = APIClient()
    client.force_login(marketer)
    return client


def client_for(user):
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def published():
    return RuleSet.objects.get(status="published")


ENDPOINTS = [
    ("get", "/rulesets/"),
    ("post", "/rulesets/draft/"),
    ("get", "/rulesets/{id}/"),
    ("patch", "/rulesets/{id}/"),
    ("get", "/rulesets/{id}/engagement-rules/"),
    ("post", "/rulesets/{id}/engagement-rules/"),
    ("get", "/rulesets/{id}/fit-rules/"),
    ("get", "/rulesets/{id}/preview/"),
    ("post", "/rulesets/{id}/publish/"),
    ("get", "/rescore-jobs/"),
    ("get", "/leads/{lead}/score/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("role", [None, "sales", "service"])
def test_it_refuses_everyone_but_marketing_and_admins(method, path, role):
    user = UserFactory(roles=[role]) if role else None
    lead = LeadFactory()
    url = BASE + path.format(id=published().pk, lead=lead.pk)
    response = getattr(client_for(user), method)(url, {}, format="json")
    assert response.status_code in (401, 403)
    assert RuleSet.objects.count() == 1


@pytest.mark.parametrize("role", ["marketing", "admin"])
def test_marketing_and_admins_read_the_rule_sets(role):
    response = client_for(UserFactory(roles=[role])).get(f"{BASE}/rulesets/")
    assert response.status_code == 200
    (ruleset,) = response.json()
    assert (ruleset["version"], ruleset["status"], ruleset["mql_threshold"]) == (1, "published", 60)
    assert {"name", "event_type", "points", "cap", "half_life_days", "property_key"} <= set(
        ruleset["engagement_rules"][0]
    )
    assert {"name", "kind", "values", "threshold", "points"} <= set(ruleset["fit_rules"][0])


def test_it_creates_the_draft_once(api):
    first = api.post(f"{BASE}/rulesets/draft/")
    second = api.post(f"{BASE}/rulesets/draft/")
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert first.json()["status"] == "draft"
    assert len(first.json()["engagement_rules"]) == published().engagement_rules.count()


def test_it_changes_the_drafts_thresholds(api):
    draft_id = api.post(f"{BASE}/rulesets/draft/").json()["id"]
    response = api.patch(
        f"{BASE}/rulesets/{draft_id}/",
        {"mql_threshold": 45, "pql_event_types": ["trial_started"], "high_intent_event_types": ["demo_request"]},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["mql_threshold"], body["pql_event_types"], body["high_intent_event_types"]) == (
        45,
        ["trial_started"],
        ["demo_request"],
    )


def test_it_refuses_to_change_a_published_version(api):
    response = api.patch(f"{BASE}/rulesets/{published().pk}/", {"mql_threshold": 1})
    assert response.status_code == 409
    assert "cannot change" in response.json()["message"]
    assert published().mql_threshold == 60


def test_it_adds_changes_and_removes_engagement_rules(api):
    draft_id = api.post(f"{BASE}/rulesets/draft/").json()["id"]
    url = f"{BASE}/rulesets/{draft_id}/engagement-rules/"
    created = api.post(
        url,
        {
            "name": "Case study",
            "event_type": "content_download",
            "property_key": "content",
            "property_operator": "equals",
            "property_value": "Case study",
            "points": 12,
            "cap": 24,
            "half_life_days": 45,
        },
    )
    assert created.status_code == 201
    rule_id = created.json()["id"]
    changed = api.patch(f"{url}{rule_id}/", {"points": -5})
    assert (changed.status_code, changed.json()["points"]) == (200, -5)
    assert api.delete(f"{url}{rule_id}/").status_code == 204
    assert api.get(f"{url}{rule_id}/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "event_type": "page_view", "points": 1, "property_key": "url"}, "property_operator"),
        ({"name": "x", "event_type": "page_view", "points": 1, "property_operator": "contains"}, "property_key"),
        (
            {"name": "x", "event_type": "page_view", "points": 1, "property_key": "url", "property_operator": "equals"},
            "property_value",
        ),
        ({"name": "x", "event_type": "page_view", "points": 1, "property_operator": "regex"}, "property_operator"),
        ({"name": "x", "event_type": "page_view", "points": 1, "half_life_days": 0}, "half_life_days"),
        ({"name": "x", "event_type": "page_view"}, "points"),
    ],
)
def test_it_rejects_invalid_engagement_rules(api, body, field):
    draft_id = api.post(f"{BASE}/rulesets/draft/").json()["id"]
    response = api.post(f"{BASE}/rulesets/{draft_id}/engagement-rules/", body)
    assert response.status_code == 400
    assert field in str(response.json())


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Big", "kind": "company_size_at_least", "threshold": 500, "points": 10}, 201),
        ({"name": "Big", "kind": "company_size_at_least", "points": 10}, 400),
        ({"name": "EU", "kind": "country_in", "values": ["DE", "FR"], "points": 5}, 201),
        ({"name": "EU", "kind": "country_in", "values": [], "points": 5}, 400),
        ({"name": "Rivals", "kind": "email_competitor", "values": ["rival.com"], "points": -50}, 201),
        ({"name": "Free", "kind": "email_free_mail", "points": -10}, 201),
        ({"name": "Odd", "kind": "zodiac_sign_in", "values": ["leo"], "points": 1}, 400),
    ],
)
def test_fit_rules_are_validated_by_kind(api, body, status):
    draft_id = api.post(f"{BASE}/rulesets/draft/").json()["id"]
    assert api.post(f"{BASE}/rulesets/{draft_id}/fit-rules/", body).status_code == status


def test_rules_of_a_published_version_cannot_be_added(api):
    response = api.post(
        f"{BASE}/rulesets/{published().pk}/fit-rules/", {"name": "Free", "kind": "email_free_mail", "points": -1}
    )
    assert response.status_code == 409


def test_preview_publish_and_progress(api, django_capture_on_commit_callbacks):
    for i in range(3):
        lead = LeadFactory(
            email=f"p{i}@acme.io", job_title="Engineer", company_size=10, industry="Retail", country="BR"
        )
        store_events_quietly(lead, [event("content_download")] * 3)
    scores_recompute_stale()
    draft_id = api.post(f"{BASE}/rulesets/draft/").json()["id"]
    api.patch(f"{BASE}/rulesets/{draft_id}/", {"mql_threshold": 20})

    preview = api.get(f"{BASE}/rulesets/{draft_id}/preview/")
    assert preview.status_code == 200
    assert preview.json()["newly"] == {"mql": 3, "sql": 0, "pql": 0}

    with django_capture_on_commit_callbacks(execute=True):
        published_response = api.post(f"{BASE}/rulesets/{draft_id}/publish/")
    assert published_response.status_code == 202
    job_id = published_response.json()["id"]
    assert published_response.json()["ruleset_version"] == 2

    progress = api.get(f"{BASE}/rescore-jobs/{job_id}/").json()
    assert (progress["status"], progress["done"], progress["total"], progress["progress"]) == ("done", 3, 3, 1.0)
    assert set(Lead.objects.values_list("stage", flat=True)) == {"mql"}
    assert api.get(f"{BASE}/rescore-jobs/").json()[0]["id"] == job_id
    assert api.post(f"{BASE}/rulesets/{draft_id}/publish/").status_code == 409
    assert RescoreJob.objects.count() == 1


def test_a_leads_score_is_explained(api):
    lead = LeadFactory(job_title="CTO", company_size=10, industry="Retail", country="BR")
    store_events_quietly(lead, [event("email_click")])
    scores_recompute_stale()
    body = api.get(f"{BASE}/leads/{lead.pk}/score/").json()
    assert (body["score"], body["fit_score"], body["engagement_score"], body["ruleset_version"]) == (18, 15, 3, 1)
    assert [(item["rule"], item["points"]) for item in body["breakdown"]] == [("Senior title", 15), ("Email click", 3)]
    assert body["stale"] is False
    assert api.get(f"{BASE}/leads/999999/score/").status_code == 404


def test_the_schema_documents_the_scoring_api(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/scoring/rulesets/{ruleset_id}/preview/", "/api/v1/scoring/rescore-jobs/{job_id}/"):
        assert path in text
