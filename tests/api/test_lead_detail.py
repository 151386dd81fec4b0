import pytest

from leads.models import Lead
from leads.services import lead_transition
from tests.api.conftest import assert_error
from tests.factories import EngagementEventFactory, LeadFactory, UserFactory
from tests.scoring.helpers import queued_lead_ids


def url(lead) -> str:
    return f"/api/v1/leads/{lead.pk if hasattr(lead, 'pk') else lead}/"


def test_it_shows_the_lead_with_score_history_handoffs_and_recent_events(read_client, marketer):
    lead = LeadFactory(score=42, fit_score=12, engagement_score=30, score_breakdown=[{"rule": "x", "points": 30}])
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
    for _ in range(25):
        EngagementEventFactory(lead=lead)

    response = read_client.get(url(lead))

    assert response.status_code == 200
    body = response.json()
    assert body["score"]["total"] == 42 and body["score"]["fit"] == 12
    assert body["score"]["breakdown"] == [{"rule": "x", "points": 30}]
    assert body["stage"] == "sql"
    assert [(c["from_stage"], c["to_stage"]) for c in body["stage_history"]] == [("lead", "sql")]
    assert body["handoffs"][0]["status"] == "open"
    assert len(body["recent_events"]) == 20


def test_the_detail_costs_a_constant_number_of_queries(read_client, django_assert_max_num_queries, marketer):
    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
    for _ in range(10):
        EngagementEventFactory(lead=lead)
    with django_assert_max_num_queries(7):  # one of them: are events still queued for the score
        assert read_client.get(url(lead)).status_code == 200


def test_an_unknown_lead_is_404(read_client):
    assert_error(read_client.get(url(987654)), 404, "not_found")


def test_an_unknown_api_path_is_a_json_404(read_client):
    assert_error(read_client.get("/api/v1/nothing-here/"), 404, "not_found")


def test_patch_changes_editable_fields_and_marks_the_score_stale(write_client):
    lead = LeadFactory(company="Old", phone="1")
    response = write_client.patch(url(lead), {"company": "New Co", "country": "fr", "company_size": 10}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["company"] == "New Co"
    lead.refresh_from_db()
    assert (lead.company, lead.country, lead.company_size, lead.phone) == ("New Co", "FR", 10, "1")
    assert lead.score_stale
    assert queued_lead_ids() == {lead.pk}


@pytest.mark.parametrize("body", [{"email": "x@y.z"}, {"stage": "customer"}, {"score": 100}, {}])
def test_patch_refuses_fields_that_are_not_editable(write_client, body):
    lead = LeadFactory()
    assert_error(write_client.patch(url(lead), body, format="json"), 400, "validation_error")
    assert Lead.objects.get(pk=lead.pk).stage == "lead"


def test_patch_needs_the_write_scope(read_client):
    assert_error(read_client.patch(url(LeadFactory()), {"company": "X"}, format="json"), 403)


def test_a_rep_cannot_change_another_reps_lead(session_client, sales_rep, other_sales_rep):
    lead = LeadFactory(owner=other_sales_rep)
    response = session_client(sales_rep).patch(url(lead), {"company": "Mine now"}, format="json")
    assert_error(response, 404)  # another rep's lead is invisible to a rep (leads.policy)
    assert session_client(other_sales_rep).patch(url(lead), {"company": "Ok"}, format="json").status_code == 200


def test_service_cannot_patch(session_client, service_rep):
    assert_error(session_client(service_rep).patch(url(LeadFactory()), {"company": "X"}, format="json"), 403)


def test_session_writes_need_csrf(sales_rep):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(sales_rep)
    response = client.patch(url(LeadFactory()), {"company": "X"}, format="json")
    assert_error(response, 403)


def test_personal_token_acts_as_its_person(client_for):
    rep = UserFactory(roles=["sales"])
    other = UserFactory(roles=["sales"])
    client = client_for("read", "write", user=rep)
    assert client.patch(url(LeadFactory(owner=rep)), {"company": "X"}, format="json").status_code == 200
    assert_error(client.patch(url(LeadFactory(owner=other)), {"company": "X"}, format="json"), 404)


def test_a_rep_may_not_edit_a_queue_lead_before_claiming_it(session_client, sales_rep, marketer):
    from leads.services import lead_transition

    lead = LeadFactory()
    lead_transition(lead_id=lead.pk, to_stage="sql", actor=marketer)
    assert session_client(sales_rep).get(url(lead)).status_code == 200
    assert_error(session_client(sales_rep).patch(url(lead), {"company": "X"}, format="json"), 403, "not_permitted")
