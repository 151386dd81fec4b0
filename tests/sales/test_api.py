"""The sales and service actions in the API: the same rules as the pages, the one error shape."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from leads.api.auth import api_key_create
from leads.handoffs import handoff_sla_sweep
from leads.models import Handoff, HandoffStatus, Notification
from leads.services import lead_claim
from tests.factories import lead_in_stage


@pytest.fixture
def api(db):
    def as_user(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return as_user


def error(response, status: int, error_type: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"type", "message", "errors"}
    assert body["type"] == error_type
    return body["message"]


def open_handoff(lead) -> Handoff:
    return Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)


@pytest.mark.django_db
class TestQueueAndMyLeads:
    def test_the_queue_lists_open_handoffs_with_the_lead(self, api, sales_rep):
        lead = lead_in_stage("sql", email="q@x.example", score=42)

        response = api(sales_rep).get("/api/v1/sales/queue/")

        assert response.status_code == 200
        [item] = response.json()["results"]
        assert (item["id"], item["status"], item["lead"]["email"], item["lead"]["score"]) == (
            open_handoff(lead).pk,
            "open",
            "q@x.example",
            42,
        )
        assert response.json()["next_cursor"] is None

    def test_my_leads_carry_the_next_step_and_its_urgency(self, api, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        api(sales_rep).post(
            f"/api/v1/leads/{lead.pk}/next-step/", {"text": "Demo", "due": str(timezone.localdate())}, format="json"
        )

        [row] = api(sales_rep).get("/api/v1/sales/my-leads/").json()["results"]

        assert (row["next_step"], row["urgency"]) == ("Demo", "today")

    @pytest.mark.parametrize("path", ["/api/v1/sales/queue/", "/api/v1/sales/my-leads/"])
    def test_marketing_and_service_are_refused(self, api, marketer, service_rep, path):
        for user in (marketer, service_rep):
            error(api(user).get(path), 403, "permission_denied")

    def test_an_integration_key_is_refused(self, db):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_create(name='crm', scopes=['read']).raw_key}")
        assert "Only a person" in error(client.get("/api/v1/sales/queue/"), 403, "permission_denied")


@pytest.mark.django_db
class TestAccept:
    def test_the_first_wins_the_second_is_told_who(self, api, sales_rep, other_sales_rep):
        lead = lead_in_stage("sql")
        handoff = open_handoff(lead)

        first = api(sales_rep).post(f"/api/v1/handoffs/{handoff.pk}/accept/")
        second = api(other_sales_rep).post(f"/api/v1/handoffs/{handoff.pk}/accept/")

        assert first.status_code == 200
        assert first.json()["lead"]["owner"]["id"] == sales_rep.pk
        assert sales_rep.get_full_name() in error(second, 409, "already_claimed")

    def test_marketing_cannot_accept(self, api, marketer):
        handoff = open_handoff(lead_in_stage("sql"))
        response = api(marketer).post(f"/api/v1/handoffs/{handoff.pk}/accept/")
        assert "Your role does not allow this" in error(response, 403, "permission_denied")
        assert open_handoff(handoff.lead).pk == handoff.pk

    def test_an_unknown_handoff_is_404(self, api, sales_rep):
        error(api(sales_rep).post("/api/v1/handoffs/999999/accept/"), 404, "not_found")


@pytest.mark.django_db
class TestRejectAndClose:
    def test_reject_recycles_with_the_reason(self, api, sales_rep):
        lead = lead_in_stage("sql")
        response = api(sales_rep).post(
            f"/api/v1/leads/{lead.pk}/reject/", {"outcome": "recycle", "reason": "Too early"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["lead"]["stage"] == "mql"

    def test_reject_needs_a_reason_and_a_known_outcome(self, api, sales_rep):
        lead = lead_in_stage("sql")
        response = api(sales_rep).post(f"/api/v1/leads/{lead.pk}/reject/", {"outcome": "bin"}, format="json")
        error(response, 400, "validation_error")
        assert set(response.json()["errors"]) == {"outcome", "reason"}

    def test_close_of_another_reps_lead_is_404(self, api, sales_rep, other_sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        response = api(sales_rep).post(f"/api/v1/leads/{lead.pk}/close/", {"reason": "x"}, format="json")
        error(response, 404, "not_found")

    def test_close_of_an_unclaimed_lead_says_claim_first(self, api, sales_rep):
        lead = lead_in_stage("sql")
        response = api(sales_rep).post(f"/api/v1/leads/{lead.pk}/close/", {"reason": "Won"}, format="json")
        assert "Claim this lead" in error(response, 403, "not_permitted")

    def test_the_owner_closes(self, api, sales_rep):
        lead = lead_in_stage("pql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        response = api(sales_rep).post(f"/api/v1/leads/{lead.pk}/close/", {"reason": "Pro, 5 seats"}, format="json")
        assert response.json()["lead"]["stage"] == "customer"


@pytest.mark.django_db
class TestUpgradeInterest:
    def test_service_flags_and_the_handoff_reaches_the_queue(self, api, service_rep, sales_rep):
        customer = lead_in_stage("customer")

        response = api(service_rep).post(
            f"/api/v1/leads/{customer.pk}/upgrade-interest/",
            {"wants": "SSO", "urgency": "high", "consent": True},
            format="json",
        )

        assert response.status_code == 201
        assert response.json()["lead"]["stage"] == "service_qualified"
        assert response.json()["handoff"]["kind"] == "service_to_sales"
        queue = api(sales_rep).get("/api/v1/sales/queue/").json()["results"]
        assert [item["lead"]["id"] for item in queue] == [customer.pk]

    @pytest.mark.parametrize("consent", [None, False])
    def test_consent_is_required(self, api, service_rep, consent):
        customer = lead_in_stage("customer")
        body = {"wants": "SSO"} | ({} if consent is None else {"consent": consent})

        response = api(service_rep).post(f"/api/v1/leads/{customer.pk}/upgrade-interest/", body, format="json")

        error(response, 400, "validation_error")
        assert list(response.json()["errors"]) == ["consent"]
        customer.refresh_from_db()
        assert customer.stage == "customer"

    def test_the_flag_answers_with_the_consent_recorded(self, api, service_rep):
        customer = lead_in_stage("customer")
        response = api(service_rep).post(
            f"/api/v1/leads/{customer.pk}/upgrade-interest/", {"wants": "SSO", "consent": True}, format="json"
        )
        assert response.status_code == 201
        assert (response.json()["flag"]["wants"], response.json()["flag"]["contact_consent"]) == ("SSO", True)

    def test_sales_cannot_flag(self, api, sales_rep):
        customer = lead_in_stage("customer")
        response = api(sales_rep).post(f"/api/v1/leads/{customer.pk}/upgrade-interest/", {"wants": "x"}, format="json")
        error(response, 403, "permission_denied")

    def test_a_non_customer_is_refused_with_why(self, api, service_rep):
        lead = lead_in_stage("mql")
        response = api(service_rep).post(
            f"/api/v1/leads/{lead.pk}/upgrade-interest/", {"wants": "x", "consent": True}, format="json"
        )
        assert "Only a customer" in error(response, 403, "not_permitted")


@pytest.mark.django_db
def test_notifications_list_and_mark_read(api, sales_rep):
    lead = lead_in_stage("sql", first_name="Late", last_name="Lead")
    Handoff.objects.filter(lead=lead).update(due_at=timezone.now() - timedelta(hours=1))
    handoff_sla_sweep()
    client = api(sales_rep)

    body = client.get("/api/v1/notifications/").json()
    assert body["unread"] == 1
    assert "SLA breached: Late Lead" in body["results"][0]["text"]

    after = client.post("/api/v1/notifications/read/", {"id": body["results"][0]["id"]}, format="json").json()
    assert after["unread"] == 0
    assert Notification.objects.get().read_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/sales/queue/", "/api/v1/sales/my-leads/"])
def test_list_endpoints_cost_the_same_queries_for_1_or_12_rows(api, sales_rep, path):
    def add():
        lead = lead_in_stage("sql")
        if "my-leads" in path:
            lead_claim(lead_id=lead.pk, user=sales_rep)

    client = api(sales_rep)
    add()
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(path).json()["results"]) == 1
    for _ in range(11):
        add()
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(path).json()["results"]) == 12
    assert len(many) == len(few)


@pytest.mark.django_db
def test_a_reps_walk_queue_accept_note_close(api, sales_rep):
    """The browser walk of tests/browser/test_sales.py, through the API."""
    lead = lead_in_stage("sql", email="walk@x.example")
    client = api(sales_rep)

    [item] = client.get("/api/v1/sales/queue/").json()["results"]
    assert client.post(f"/api/v1/handoffs/{item['id']}/accept/").json()["lead"]["owner"]["username"] == "rep"

    note = client.post(
        f"/api/v1/leads/{lead.pk}/notes/", {"kind": "call", "body": "Wants a demo for 12 seats."}, format="json"
    )
    assert note.status_code == 201
    assert (note.json()["kind"], note.json()["author"]) == ("call", sales_rep.get_full_name())
    [mine] = client.get("/api/v1/sales/my-leads/").json()["results"]
    assert mine["last_activity_at"] == note.json()["created_at"]

    closed = client.post(f"/api/v1/leads/{lead.pk}/close/", {}, format="json")  # no reason needed
    assert closed.status_code == 200
    assert closed.json()["lead"]["stage"] == "customer"
    assert client.get("/api/v1/sales/my-leads/").json()["results"] == []


@pytest.mark.django_db
class TestNotes:
    def test_a_blank_note_or_an_unknown_kind_is_a_400_naming_the_field(self, api, sales_rep):
        lead = lead_in_stage("sql")
        response = api(sales_rep).post(f"/api/v1/leads/{lead.pk}/notes/", {"kind": "fax", "body": " "}, format="json")
        error(response, 400, "validation_error")
        assert sorted(response.json()["errors"]) == ["body", "kind"]
        assert not lead.notes.exists()

    def test_a_lead_the_rep_may_not_see_is_a_404(self, api, sales_rep, other_sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        response = api(sales_rep).post(f"/api/v1/leads/{lead.pk}/notes/", {"body": "hi"}, format="json")
        error(response, 404, "not_found")
        assert not lead.notes.exists()
