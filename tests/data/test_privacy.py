"""A person's data: exported whole as JSON, erased whole, the erasure recorded without it."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from leads import ingest
from leads.models import (
    EngagementEvent,
    Erasure,
    Handoff,
    Lead,
    Note,
    StageChange,
    Submission,
    SuppressedEmail,
    WebhookDelivery,
    WebhookEndpoint,
)
from leads.privacy import email_is_suppressed, person_erase, person_export, suppressed_emails, suppression_lift
from leads.services import lead_transition
from tests.factories import EngagementEventFactory, NoteFactory

EMAIL = "Grace.Hopper@Navy.example"


@pytest.fixture
def person(db, marketer):
    """A lead with a submission, events, a note, stage history, a handoff and a webhook delivery."""
    result = ingest.submission_ingest(
        form_name="demo-request",
        email="grace.hopper@navy.example",
        fields={"first_name": "Grace", "last_name": "Hopper", "company": "US Navy", "phone": "+1 555 0100"},
        consent=True,
        page_url="https://example.com/demo",
        submitted_at=timezone.now(),
        payload={"email": EMAIL, "first_name": "Grace", "message": "Call me about COBOL"},
    )
    lead = Lead.objects.get(pk=result.lead_id)
    EngagementEventFactory(lead=lead, event_type="pricing_page_view")
    EngagementEventFactory(lead=lead, event_type="unsubscribe")
    NoteFactory(lead=lead, author=marketer, body="Grace prefers email")
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer, reason="asked for a demo")
    endpoint = WebhookEndpoint.objects.create(name="sync", url="http://127.0.0.1:8108/", secret="s", events=[])
    WebhookDelivery.objects.create(
        endpoint=endpoint, event="lead.stage_changed", event_id="6b0f8c5e-1c1a-4a4e-9d55-0a1b2c3d4e5f",
        payload={"lead": {"id": lead.pk, "email": lead.email}},
    )  # fmt: skip
    return lead


def test_the_export_holds_everything_known_about_the_person(person):
    data = json.loads(json.dumps(person_export(lead_id=person.pk), cls=DjangoJSONEncoder))
    assert data["profile"]["email"] == "grace.hopper@navy.example"
    assert data["profile"]["phone"] == "+1 555 0100"
    assert data["submissions"][0]["payload"]["message"] == "Call me about COBOL"
    assert sorted(e["event_type"] for e in data["events"]) == ["form_submitted", "pricing_page_view", "unsubscribe"]
    assert [(c["from_stage"], c["to_stage"], c["actor__username"]) for c in data["stage_history"]] == [
        ("lead", "sql", "marketer")
    ]
    assert data["handoffs"][0]["kind"] == "marketing_to_sales"
    assert data["notes"][0]["body"] == "Grace prefers email"


def test_erasure_deletes_every_row_about_the_person(person, admin_user):
    lead_id = person.pk
    erasure = person_erase(lead_id=lead_id, actor=admin_user, reason="GDPR-1234")
    assert not Lead.objects.filter(pk=lead_id).exists()
    for model in (EngagementEvent, StageChange, Handoff, Note, Submission):
        assert not model.objects.filter(lead_id=lead_id).exists(), model.__name__
    assert Submission.objects.count() == 0  # the raw payloads too, not only their link to the lead
    assert WebhookDelivery.objects.count() == 0
    assert erasure.counts == {
        "events": 3,
        "stage_changes": 1,
        "handoffs": 1,
        "notes": 1,
        "upgrade_flags": 0,
        "submissions": 1,
        "webhook_deliveries": 1,
        "was_unsubscribed": False,
    }


def test_the_erasure_record_holds_no_personal_data(person, admin_user):
    person_erase(lead_id=person.pk, actor=admin_user, reason="GDPR-1234")
    record = json.dumps(list(Erasure.objects.values()), cls=DjangoJSONEncoder).lower()
    for personal in ("grace", "hopper", "navy", "555 0100", "cobol"):
        assert personal not in record
    erasure = Erasure.objects.get()
    assert (erasure.lead_id_erased, erasure.erased_by, erasure.reason) == (person.pk, admin_user, "GDPR-1234")


def test_an_erased_address_is_suppressed_whatever_its_case(person):
    person_erase(lead_id=person.pk, actor_label="api:privacy-bot")
    assert email_is_suppressed(EMAIL)
    assert email_is_suppressed("  grace.hopper@navy.example ")
    assert not email_is_suppressed("someone.else@navy.example")
    assert suppressed_emails(["grace.hopper@navy.example", "x@y.example"]) == {"grace.hopper@navy.example"}
    assert suppression_lift(email=EMAIL)
    assert not email_is_suppressed(EMAIL)


def test_without_suppression_the_person_may_come_back(person, settings):
    settings.PRIVACY_SUPPRESS_ERASED = False
    erasure = person_erase(lead_id=person.pk)
    assert erasure.suppressed is False
    assert SuppressedEmail.objects.count() == 0
    assert not email_is_suppressed(EMAIL)


# --- API --------------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user


def test_an_admin_exports_a_person_through_the_api(api, admin_user, person):
    response = api(admin_user).get(f"/api/v1/leads/{person.pk}/privacy/export/")
    assert response.status_code == 200
    assert response.json()["profile"]["email"] == "grace.hopper@navy.example"
    assert "attachment" in response["Content-Disposition"]


@pytest.mark.parametrize("method,path", [("get", "export"), ("post", "erase")])
def test_it_refuses_a_marketer(api, marketer, person, method, path):
    response = getattr(api(marketer), method)(f"/api/v1/leads/{person.pk}/privacy/{path}/")
    assert response.status_code == 403
    assert response.json()["type"] == "permission_denied"
    assert Lead.objects.filter(pk=person.pk).exists()


def test_an_admin_erases_a_person_through_the_api(api, admin_user, person):
    response = api(admin_user).post(
        f"/api/v1/leads/{person.pk}/privacy/erase/", {"reason": "ticket 77"}, content_type="application/json"
    )
    assert response.status_code == 200
    body = response.json()["erasure"]
    assert body["lead_id_erased"] == person.pk
    assert body["suppressed"] is True
    assert body["counts"]["events"] == 3
    assert not Lead.objects.filter(pk=person.pk).exists()
    again = api(admin_user).post(f"/api/v1/leads/{person.pk}/privacy/erase/", {}, content_type="application/json")
    assert again.status_code == 404
