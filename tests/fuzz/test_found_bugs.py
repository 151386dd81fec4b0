"""What the fuzzers found, pinned down one by one (each was a 500, an HTML answer, or a lie in the
schema before its fix)."""

import pytest
from rest_framework.test import APIClient

from leads.api.auth import api_key_create
from leads.models import EngagementEvent, Lead
from tests.api.conftest import assert_error
from tests.factories import UserFactory, lead_in_stage


@pytest.fixture
def admin_api(db):
    admin = UserFactory(username="fuzz-admin", roles=["admin"], is_staff=True, is_superuser=True)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='k', scopes=['submit', 'read', 'write'], user=admin).raw_key}"
    )
    return client


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/leads/99999999999999999999999/",
        "/api/v1/scoring/rulesets/15197855193131792505144807811710976/engagement-rules/1/",
        "/api/v1/scoring/rulesets/1/fit-rules/99999999999999999999/",
        "/api/v1/leads/%0Anope/transition/",
        "/api/v1/scoring/rulesets/%0A/publish/",
        "/api/v1/scoring/no-such-thing/",
    ],
)
def test_an_id_no_row_can_have_or_a_garbled_path_is_a_json_404(admin_api, url):
    assert_error(admin_api.get(url), 404, "not_found")
    assert_error(admin_api.post(url, {}, format="json"), 404, "not_found")  # not the CSRF failure page


def test_a_post_to_an_unknown_api_url_without_csrf_is_a_json_404(client, db):
    response = client.post("/api/v1/handoffs/null,null/accept/")
    assert_error(response, 404, "not_found")


def test_a_unicode_digit_is_a_400_not_a_500(admin_api):
    assert_error(admin_api.get("/api/v1/leads/", {"limit": "\u00b2"}), 400, "validation_error")
    response = admin_api.post(
        "/api/v1/submissions/", {"form_name": "f", "email": "a@example.com", "company_size": "\u00b2"}, format="json"
    )
    assert set(assert_error(response, 400, "validation_error")["errors"]) == {"company_size"}


def test_a_json_null_body_is_refused_not_taken_as_no_reason(admin_api):
    lead = lead_in_stage("sql")
    response = admin_api.post(f"/api/v1/leads/{lead.pk}/release/", data="null", content_type="application/json")
    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("country", ["\u00c9\u00c9", "D1", "DEU"])
def test_a_country_is_two_ascii_letters(admin_api, country):
    body = {"form_name": "f", "email": "c@example.com", "country": country}
    assert set(assert_error(admin_api.post("/api/v1/submissions/", body, format="json"), 400)["errors"]) == {"country"}
    lead = lead_in_stage("lead")
    response = admin_api.patch(f"/api/v1/leads/{lead.pk}/", {"country": country}, format="json")
    assert "Use a two-letter ISO 3166-1 code." in assert_error(response, 400)["errors"]["country"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("2016-12-31t23:59:60z", "2016-12-31T23:59:59+00:00"), ("2026-01-31T12:00:00.123456789+14:00", None)],
)
def test_rfc_3339_date_times_are_accepted(admin_api, sent, stored):
    body = {"email": "t@example.com", "event_type": "page_view", "occurred_at": sent}
    response = admin_api.post("/api/v1/events/", body, format="json")
    assert response.status_code == 201, response.content
    if stored:
        assert EngagementEvent.objects.get(lead__email="t@example.com").occurred_at.isoformat() == stored


@pytest.mark.parametrize("sent", ["1969-12-31T23:59:59Z", "1970-01-01T00:30:00+01:00", "0001-01-01T00:00:00+01:00"])
def test_times_before_1970_are_refused_for_events_and_submissions(admin_api, sent):
    event = {"email": "old@example.com", "event_type": "page_view", "occurred_at": sent}
    assert set(assert_error(admin_api.post("/api/v1/events/", event, format="json"), 400)["errors"]) == {"occurred_at"}
    submission = {"form_name": "f", "email": "old@example.com", "submitted_at": sent}
    errors = assert_error(admin_api.post("/api/v1/submissions/", submission, format="json"), 400)["errors"]
    assert set(errors) == {"submitted_at"}
    assert not Lead.objects.filter(email="old@example.com").exists()


def test_a_nul_is_refused_naming_its_field(admin_api):
    raw = '{"form_name": "f", "email": "n@example.com", "fields": {"notes": ["ok", "a\\u0000b"]}}'
    body = assert_error(admin_api.post("/api/v1/submissions/", data=raw, content_type="application/json"), 400)
    assert body["errors"] == {"fields.notes.1": [body["message"]]} and "NUL" in body["message"]


def test_each_rule_list_documents_its_own_rules(client, db):
    schema = client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    engagement = paths["/api/v1/scoring/rulesets/{ruleset_id}/engagement-rules/"]["get"]["responses"]["200"]
    fit = paths["/api/v1/scoring/rulesets/{ruleset_id}/fit-rules/"]["get"]["responses"]["200"]
    assert engagement["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/EngagementRule")
    assert fit["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/FitRule")


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/notifications/read/", {"id": 2**70}, "id"),
        ("/api/v1/leads/{lead}/merge/", {"other_id": 81518608215218023246493995663097856}, "other_id"),
    ],
)
def test_an_id_beyond_64_bits_in_a_body_is_a_400_naming_it(admin_api, url, body, field):
    lead = lead_in_stage("lead")
    response = admin_api.post(url.format(lead=lead.pk), body, format="json")
    assert set(assert_error(response, 400, "validation_error")["errors"]) == {field}
