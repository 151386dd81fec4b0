import pytest

from leads.models import Handoff, StageChange
from leads.services import lead_claim, lead_transition
from tests.api.conftest import assert_error
from tests.factories import LeadFactory


def transition(lead) -> str:
    return f"/api/v1/leads/{lead.pk}/transition/"


def test_a_write_key_moves_a_lead_and_the_audit_row_names_the_key(write_client):
    lead = LeadFactory()
    response = write_client.post(transition(lead), {"to_stage": "mql"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lead"]["stage"] == "mql"
    assert (body["change"]["from_stage"], body["change"]["to_stage"]) == ("lead", "mql")
    assert body["handoff"] is None
    change = StageChange.objects.get()
    assert change.actor is None and change.actor_label == f"api:{write_client.api_key.name}"


def test_moving_into_sales_opens_a_handoff(write_client):
    body = write_client.post(transition(LeadFactory()), {"to_stage": "sql"}, format="json").json()
    assert body["handoff"]["status"] == "open"


def test_a_refused_move_is_409_and_changes_nothing(write_client):
    lead = LeadFactory()
    assert_error(
        write_client.post(transition(lead), {"to_stage": "customer"}, format="json"), 409, "transition_not_allowed"
    )
    assert StageChange.objects.count() == 0


def test_a_move_that_needs_a_reason_without_one_is_400(write_client):
    body = assert_error(
        write_client.post(transition(LeadFactory()), {"to_stage": "disqualified"}, format="json"),
        400,
        "reason_required",
    )
    assert "reason" in body["errors"]


def test_expected_stage_refuses_a_move_decided_on_stale_data(write_client):
    lead = LeadFactory()
    response = write_client.post(transition(lead), {"to_stage": "sql", "expected_stage": "mql"}, format="json")
    assert_error(response, 409)


def test_an_unknown_stage_is_400(write_client):
    assert_error(write_client.post(transition(LeadFactory()), {"to_stage": "won"}, format="json"), 400)


def test_a_read_key_cannot_move_leads(read_client):
    assert_error(read_client.post(transition(LeadFactory()), {"to_stage": "mql"}, format="json"), 403)


def test_an_unknown_lead_is_404(write_client):
    assert_error(write_client.post("/api/v1/leads/987654/transition/", {"to_stage": "mql"}, format="json"), 404)


@pytest.mark.parametrize(
    ("role_fixture", "stage", "to_stage", "expected"),
    [
        ("marketer", "lead", "mql", 200),
        ("marketer", "sql", "customer", 403),
        ("sales_rep", "sql", "customer", 403),  # a rep claims a queue lead before closing it
        ("sales_rep", "lead", "mql", 404),  # a rep does not see marketing's leads
        ("service_rep", "customer", "service_qualified", 200),
        ("service_rep", "lead", "mql", 403),
        ("admin_user", "sql", "customer", 200),
    ],
)
def test_roles_make_their_own_moves(request, session_client, marketer, role_fixture, stage, to_stage, expected):
    lead = LeadFactory()
    if stage != "lead":
        lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
        if stage == "customer":
            lead_transition(lead_id=lead.pk, to_stage="customer", actor=marketer)
    client = session_client(request.getfixturevalue(role_fixture))
    response = client.post(transition(lead), {"to_stage": to_stage}, format="json")
    assert response.status_code == expected, response.content


def test_a_rep_cannot_move_another_reps_lead(session_client, marketer, sales_rep, other_sales_rep):
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
    lead_claim(lead_id=lead.pk, user=other_sales_rep)
    response = session_client(sales_rep).post(transition(lead), {"to_stage": "customer"}, format="json")
    assert_error(response, 404)


# --- claim / release ---


@pytest.fixture
def queued_lead(marketer):
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
    return lead


def test_a_rep_claims_a_queued_lead(session_client, sales_rep, queued_lead):
    response = session_client(sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/claim/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["lead"]["owner"]["id"] == sales_rep.pk
    assert body["handoff"]["status"] == "accepted"


def test_a_taken_claim_is_409_and_names_the_owner(session_client, sales_rep, other_sales_rep, queued_lead):
    session_client(sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/claim/")
    body = assert_error(session_client(other_sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/claim/"), 409)
    assert body["type"] == "already_claimed"


def test_a_lead_outside_the_sales_queue_cannot_be_claimed(session_client, sales_rep):
    assert_error(session_client(sales_rep).post(f"/api/v1/leads/{LeadFactory().pk}/claim/"), 403, "not_permitted")


def test_claiming_an_unknown_lead_is_404(session_client, sales_rep):
    assert_error(session_client(sales_rep).post("/api/v1/leads/987654/claim/"), 404)


@pytest.mark.parametrize("role_fixture", ["marketer", "service_rep"])
def test_only_sales_and_admin_claim(request, session_client, role_fixture, queued_lead):
    assert_error(
        session_client(request.getfixturevalue(role_fixture)).post(f"/api/v1/leads/{queued_lead.pk}/claim/"), 403
    )


def test_an_integration_key_cannot_claim(write_client, queued_lead):
    assert_error(write_client.post(f"/api/v1/leads/{queued_lead.pk}/claim/"), 403)


def test_a_reps_personal_token_can_claim(client_for, sales_rep, queued_lead):
    assert client_for("write", user=sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/claim/").status_code == 200
    assert_error(client_for("read", user=sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/claim/"), 403)


def test_the_owner_releases_a_lead_back_to_the_queue(session_client, sales_rep, queued_lead):
    lead_claim(lead_id=queued_lead.pk, user=sales_rep)
    response = session_client(sales_rep).post(
        f"/api/v1/leads/{queued_lead.pk}/release/", {"reason": "On leave"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["lead"]["owner"] is None
    assert Handoff.objects.filter(lead=queued_lead, status="open").get().reason == "On leave"


def test_another_rep_cannot_release(session_client, sales_rep, other_sales_rep, queued_lead):
    lead_claim(lead_id=queued_lead.pk, user=sales_rep)
    assert_error(session_client(other_sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/release/"), 404)


def test_an_admin_can_release_anyones_lead(session_client, sales_rep, admin_user, queued_lead):
    lead_claim(lead_id=queued_lead.pk, user=sales_rep)
    assert session_client(admin_user).post(f"/api/v1/leads/{queued_lead.pk}/release/").status_code == 200


def test_releasing_an_unowned_lead_is_refused(session_client, sales_rep, queued_lead):
    assert_error(session_client(sales_rep).post(f"/api/v1/leads/{queued_lead.pk}/release/"), 403)


def test_a_rep_closes_the_lead_they_claimed(session_client, marketer, sales_rep):
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
    lead_claim(lead_id=lead.pk, user=sales_rep)
    response = session_client(sales_rep).post(transition(lead), {"to_stage": "customer"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["lead"]["stage"] == "customer"
