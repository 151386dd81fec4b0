from leads.services import lead_transition
from tests.api.conftest import assert_error
from tests.factories import LeadFactory


def test_it_counts_leads_per_stage_in_funnel_order(read_client, marketer):
    LeadFactory.create_batch(3)
    queued = LeadFactory()
    lead_transition(lead_id=queued.pk, to_stage="sql", actor=marketer)

    response = read_client.get("/api/v1/pipeline/")

    assert response.status_code == 200
    body = response.json()
    counts = {row["stage"]: row["count"] for row in body["stages"]}
    assert [row["stage"] for row in body["stages"]][:3] == ["lead", "mql", "sql"]
    assert counts["lead"] == 3 and counts["sql"] == 1 and counts["customer"] == 0
    assert body["total"] == 4
    assert body["unclaimed_in_sales_queue"] == 1


def test_it_needs_the_read_scope(client_for):
    assert_error(client_for("submit").get("/api/v1/pipeline/"), 403)
