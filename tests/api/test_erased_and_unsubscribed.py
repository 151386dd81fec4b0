"""What the front door does with people who asked to be forgotten or to hear no more."""

import pytest

from leads.models import EngagementEvent, Lead, Submission
from leads.privacy import person_erase
from tests.api.conftest import assert_error
from tests.factories import LeadFactory


@pytest.fixture
def erased_email(db, settings):
    settings.PRIVACY_SUPPRESS_ERASED = True
    lead = LeadFactory(email="gone@example.com")
    person_erase(lead_id=lead.pk, actor_label="test", reason="GDPR request")
    return "gone@example.com"


def test_a_submission_from_an_erased_person_is_refused_and_nothing_is_stored(submit_client, erased_email):
    response = submit_client.post(
        "/api/v1/submissions/", {"form_name": "contact", "email": " GONE@example.com "}, format="json"
    )

    body = assert_error(response, 400, "suppressed")
    assert "forgotten" in body["errors"]["email"][0]
    assert not Lead.objects.exists() and not Submission.objects.exists() and not EngagementEvent.objects.exists()


def test_an_event_for_an_erased_person_is_refused_and_its_neighbours_are_stored(submit_client, erased_email):
    response = submit_client.post(
        "/api/v1/events/",
        {
            "events": [
                {"email": erased_email, "event_type": "page_view"},
                {"email": "new@example.com", "event_type": "page_view"},
            ]
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert results[0]["status"] == "rejected" and "forgotten" in results[0]["errors"]["email"][0]
    assert results[1]["status"] == "accepted"
    assert list(Lead.objects.values_list("email", flat=True)) == ["new@example.com"]


def test_a_single_event_for_an_erased_person_is_a_clear_400(submit_client, erased_email):
    response = submit_client.post("/api/v1/events/", {"email": erased_email, "event_type": "page_view"}, format="json")

    body = assert_error(response, 400)
    assert "forgotten" in body["errors"]["email"][0]
    assert not Lead.objects.exists()


def test_an_unsubscribe_event_flags_the_lead_at_once(submit_client):
    lead = LeadFactory()
    response = submit_client.post(
        "/api/v1/events/",
        {
            "events": [
                {"lead_id": lead.pk, "event_type": "email_open"},
                {"lead_id": lead.pk, "event_type": "unsubscribe"},
            ]
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    lead.refresh_from_db()
    assert lead.unsubscribed
    assert EngagementEvent.objects.filter(lead=lead, event_type="unsubscribe").count() == 1  # the event is kept
