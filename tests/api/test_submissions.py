import json

import pytest
from django.utils import timezone

from leads.models import EngagementEvent, IdempotencyRecord, Lead, Submission
from leads.signals import events_stored
from tests.api.conftest import assert_error
from tests.factories import LeadFactory
from tests.scoring.helpers import queued_lead_ids

URL = "/api/v1/submissions/"


def submission(**overrides) -> dict:
    body = {
        "form_name": "demo-request",
        "email": "  Ada.Lovelace@Example.COM ",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "country": "gb",
        "company_size": 120,
        "utm_source": "google",
        "consent": True,
        "page_url": "https://example.com/demo",
        "fields": {"team_size": "11-50"},
    }
    body.update(overrides)
    return body


def test_it_creates_the_lead_the_submission_and_a_form_submitted_event(submit_client):
    response = submit_client.post(URL, submission(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    lead = Lead.objects.get()
    assert body == {
        "lead_id": lead.pk,
        "stage": "lead",
        "created": True,
        "submission_id": Submission.objects.get().pk,
    }
    assert lead.email == "ada.lovelace@example.com"
    assert (lead.first_name, lead.company, lead.country, lead.company_size) == ("Ada", "Analytical Engines", "GB", 120)
    assert lead.company_domain == "example.com"
    assert lead.consent and lead.consent_at is not None
    assert lead.score_stale and lead.score_stale_since is not None
    assert queued_lead_ids() == {lead.pk}  # what the scoring worker takes
    assert lead.last_activity_at is not None
    stored = Submission.objects.get()
    assert stored.payload["email"] == "  Ada.Lovelace@Example.COM "  # the raw body, as received
    assert stored.payload["fields"] == {"team_size": "11-50"}
    assert stored.created_lead and stored.api_key == submit_client.api_key
    event = EngagementEvent.objects.get()
    assert event.event_type == "form_submitted" and event.lead_id == lead.pk
    assert event.properties["submission_id"] == stored.pk


def test_it_updates_the_lead_found_by_normalized_email_without_erasing_known_fields(submit_client):
    lead = LeadFactory(email="ada.lovelace@example.com", first_name="Ada", company="Old Co", phone="123", source="ads")

    response = submit_client.post(
        URL,
        submission(first_name="", company="New Co", phone="", source="newsletter", company_size=None, consent=False),
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["created"] is False
    assert response.json()["lead_id"] == lead.pk
    lead.refresh_from_db()
    assert lead.first_name == "Ada"  # an empty value never erases
    assert lead.phone == "123"
    assert lead.company == "New Co"  # a new value wins
    assert lead.source == "ads"  # attribution keeps the first touch
    assert lead.company_size == 120  # from the factory, kept when null is sent
    assert Lead.objects.count() == 1
    assert Submission.objects.get().created_lead is False


def test_consent_once_given_is_not_withdrawn_by_a_form_without_the_box(submit_client):
    submit_client.post(URL, submission(consent=True), format="json")
    submit_client.post(URL, submission(consent=False), format="json")
    assert Lead.objects.get().consent is True


def test_it_nudges_scoring_only_after_commit(submit_client, django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, lead_ids, **kwargs):
        received.append(lead_ids)

    events_stored.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = submit_client.post(URL, submission(), format="json")
    finally:
        events_stored.disconnect(receiver)
    assert len(callbacks) == 1
    assert received == [[response.json()["lead_id"]]]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "ünïcode@exämple.com"}, "email"),
        ({"form_name": ""}, "form_name"),
        ({"country": "GBR"}, "country"),
        ({"company_size": -1}, "company_size"),
        ({"company_size": "many"}, "company_size"),
        ({"page_url": "javascript:alert(1)"}, "page_url"),
        ({"submitted_at": "yesterday"}, "submitted_at"),
        ({"submitted_at": "2999-01-01T00:00:00Z"}, "submitted_at"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"fields": "not an object"}, "fields"),
    ],
)
def test_it_rejects_invalid_fields_with_field_errors(submit_client, overrides, field):
    response = submit_client.post(URL, submission(**overrides), format="json")
    body = assert_error(response, 400, "validation_error")
    assert field in body["errors"]
    assert Lead.objects.count() == 0 and Submission.objects.count() == 0


def test_it_requires_form_name_and_email(submit_client):
    body = assert_error(submit_client.post(URL, {}, format="json"), 400, "validation_error")
    assert set(body["errors"]) == {"form_name", "email"}


def test_it_rejects_malformed_json(submit_client):
    response = submit_client.post(URL, data='{"email": ', content_type="application/json")
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize(
    "body", ['{"email": NaN}', '{"a": "\\u0000"}', '{"a": "\\ud800"}', "[" * 100_000, '{"fields": {"x": -1e400}}']
)
def test_it_rejects_json_the_database_cannot_store(submit_client, body):
    assert_error(submit_client.post(URL, data=body, content_type="application/json"), 400, "malformed_request")


def test_it_rejects_a_json_array(submit_client):
    assert_error(submit_client.post(URL, data="[]", content_type="application/json"), 400, "validation_error")


def test_it_rejects_other_content_types(submit_client):
    response = submit_client.post(URL, data="email=a@b.c", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_it_rejects_a_body_over_the_size_limit(submit_client, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = submit_client.post(URL, submission(fields={"blob": "x" * 2000}), format="json")
    assert_error(response, 413, "payload_too_large")


def test_it_accepts_hostile_text_as_data(submit_client):
    hostile = "<script>alert(1)</script>'; DROP TABLE leads_lead; -- 😀"
    response = submit_client.post(URL, submission(first_name=hostile[:100], fields={"x": hostile}), format="json")
    assert response.status_code == 201
    assert Lead.objects.get().first_name == hostile[:100]


# --- Idempotency ---


def test_the_same_idempotency_key_and_body_replays_the_first_answer(submit_client):
    body = json.dumps(submission())
    first = submit_client.post(URL, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="abc-1")
    again = submit_client.post(URL, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="abc-1")

    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert Submission.objects.count() == 1
    assert EngagementEvent.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(submit_client):
    submit_client.post(URL, submission(), format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    response = submit_client.post(URL, submission(first_name="Eve"), format="json", HTTP_IDEMPOTENCY_KEY="abc-2")
    assert_error(response, 409, "idempotency_key_reused")
    assert Submission.objects.count() == 1


def test_idempotency_keys_belong_to_their_api_key(client_for):
    first, second = client_for("submit"), client_for("submit")
    first.post(URL, submission(), format="json", HTTP_IDEMPOTENCY_KEY="same")
    response = second.post(URL, submission(first_name="Other"), format="json", HTTP_IDEMPOTENCY_KEY="same")
    assert response.status_code == 201
    assert Submission.objects.count() == 2


def test_a_failed_request_does_not_burn_its_idempotency_key(submit_client):
    assert submit_client.post(URL, {"email": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert submit_client.post(URL, submission(), format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 201


def test_it_rejects_an_overlong_idempotency_key(submit_client):
    response = submit_client.post(URL, submission(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    body = assert_error(response, 400, "validation_error")
    assert "Idempotency-Key" in body["errors"]


# --- Who may post ---


def test_it_requires_a_key(db):
    from rest_framework.test import APIClient

    response = APIClient().post(URL, submission(), format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("scopes", [("read",), ("write",), ("read", "write")])
def test_it_requires_the_submit_scope(client_for, scopes):
    assert_error(client_for(*scopes).post(URL, submission(), format="json"), 403, "permission_denied")


def test_a_form_key_posts_only_its_form(client_for):
    client = client_for("submit", form_name="newsletter")
    assert client.post(URL, submission(form_name="newsletter"), format="json").status_code == 201
    assert_error(client.post(URL, submission(form_name="demo-request"), format="json"), 403, "not_permitted")


def test_marketing_people_may_post_with_their_session(session_client, marketer):
    client = session_client(marketer)
    client.enforce_csrf_checks = False
    assert client.post(URL, submission(), format="json").status_code == 201


def test_submitted_at_defaults_to_now_and_is_kept_when_given(submit_client):
    response = submit_client.post(URL, submission(submitted_at="2026-01-02T03:04:05Z"), format="json")
    stored = Submission.objects.get(pk=response.json()["submission_id"])
    assert stored.submitted_at.isoformat() == "2026-01-02T03:04:05+00:00"
    assert stored.received_at <= timezone.now()
