from datetime import timedelta

from django.utils import timezone

from tests.api.conftest import assert_error
from tests.factories import EngagementEventFactory, LeadFactory


def test_it_lists_a_leads_events_newest_first_in_pages(read_client):
    lead = LeadFactory()
    now = timezone.now()
    events = [EngagementEventFactory(lead=lead, occurred_at=now - timedelta(minutes=i % 3)) for i in range(7)]
    EngagementEventFactory()  # another lead's

    seen, url = [], f"/api/v1/leads/{lead.pk}/events/?limit=3"
    while url:
        response = read_client.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]

    expected = sorted(events, key=lambda e: (e.occurred_at, e.pk), reverse=True)
    assert seen == [event.pk for event in expected]


def test_event_rows_have_their_fields(read_client):
    event = EngagementEventFactory(properties={"path": "/pricing"}, external_id="x-1", source="web")
    row = read_client.get(f"/api/v1/leads/{event.lead_id}/events/").json()["results"][0]
    assert row["event_type"] == "page_view" and row["properties"] == {"path": "/pricing"}
    assert (row["external_id"], row["source"], row["lead_id"]) == ("x-1", "web", event.lead_id)


def test_an_unknown_lead_is_404(read_client):
    assert_error(read_client.get("/api/v1/leads/987654/events/"), 404)


def test_it_needs_the_read_scope(client_for):
    assert_error(client_for("submit").get(f"/api/v1/leads/{LeadFactory().pk}/events/"), 403)
