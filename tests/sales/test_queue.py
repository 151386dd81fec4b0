"""The sales queue page: what a rep may take, in priority order, a page at a time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.models import Handoff, HandoffStatus, Lead
from tests.factories import UserFactory, lead_in_stage

QUEUE = reverse("sales-queue")


def open_handoff(lead: Lead) -> Handoff:
    return Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)


def rows(response) -> list[str]:
    return [row.lead.email for row in response.context["rows"]]


@pytest.mark.django_db
class TestQueue:
    def test_it_orders_by_deadline_then_score_then_age(self, rep_client):
        now = timezone.now()
        late = lead_in_stage("sql", email="late@x.example", score=10)
        urgent = lead_in_stage("sql", email="urgent@x.example", score=5)
        high = lead_in_stage("pql", email="high@x.example", score=90)
        low = lead_in_stage("pql", email="low@x.example", score=20)
        old_low = lead_in_stage("pql", email="oldlow@x.example", score=20)
        Handoff.objects.filter(lead=late).update(due_at=now + timedelta(hours=5))
        Handoff.objects.filter(lead=urgent).update(due_at=now + timedelta(hours=1))
        Handoff.objects.filter(lead=old_low).update(opened_at=now - timedelta(days=2))
        Handoff.objects.filter(lead__in=[high, low, old_low]).update(due_at=None)

        response = rep_client.get(QUEUE)

        assert response.status_code == 200
        assert rows(response) == [
            "urgent@x.example",
            "late@x.example",
            "high@x.example",
            "oldlow@x.example",
            "low@x.example",
        ]

    def test_it_shows_key_facts_score_and_the_sla(self, rep_client, sla_policies):
        lead_in_stage("sql", email="ada@x.example", company="Analytical Engines", score=77, country="GB")

        body = rep_client.get(QUEUE).content.decode()

        assert "Analytical Engines" in body
        assert ">77<" in body
        assert "Due in 3" in body  # a 4-hour SLA, just opened

    def test_it_hides_claimed_leads_and_handoffs_offered_to_another_rep(self, rep_client, sales_rep, other_sales_rep):
        claimed = lead_in_stage("sql", email="claimed@x.example")
        Handoff.objects.filter(lead=claimed).update(status=HandoffStatus.ACCEPTED)
        offered = lead_in_stage("sql", email="offered@x.example")
        Handoff.objects.filter(lead=offered).update(offered_to=other_sales_rep)
        mine = lead_in_stage("sql", email="mine@x.example")
        Handoff.objects.filter(lead=mine).update(offered_to=sales_rep)
        lead_in_stage("pql", email="anyone@x.example")

        assert rows(rep_client.get(QUEUE)) == ["mine@x.example", "anyone@x.example"]

    def test_it_pages_with_a_cursor_without_skipping_or_repeating(self, rep_client):
        now = timezone.now()
        leads = [lead_in_stage("sql", email=f"q{i}@x.example", score=i % 3) for i in range(30)]
        for i, lead in enumerate(leads):
            Handoff.objects.filter(lead=lead).update(due_at=now + timedelta(minutes=i // 4))

        first = rep_client.get(QUEUE)
        second = rep_client.get(QUEUE, {"cursor": first.context["next_cursor"]})

        assert len(rows(first)) == 25
        assert second.context["next_cursor"] is None
        seen = rows(first) + rows(second)
        assert sorted(seen) == sorted(lead.email for lead in leads)
        assert len(set(seen)) == 30

    def test_a_bad_cursor_shows_the_first_page(self, rep_client):
        lead_in_stage("sql")
        assert len(rows(rep_client.get(QUEUE, {"cursor": "not-a-cursor"}))) == 1

    def test_its_query_count_does_not_grow_with_the_rows(self, rep_client):
        lead_in_stage("sql")
        with CaptureQueriesContext(connection) as few:
            rep_client.get(QUEUE)
        for _ in range(20):
            lead_in_stage("pql")
        with CaptureQueriesContext(connection) as many:
            response = rep_client.get(QUEUE)
        assert len(rows(response)) == 21
        assert len(many) == len(few)

    def test_it_explains_an_empty_queue(self, rep_client):
        assert "The queue is empty" in rep_client.get(QUEUE).content.decode()

    @pytest.mark.parametrize("role", ["marketing", "service"])
    def test_other_roles_are_refused_with_a_reason(self, client, role):
        client.force_login(UserFactory(roles=[role]))
        response = client.get(QUEUE)
        assert response.status_code == 403
        assert "Only sales reps" in response.content.decode()

    def test_anonymous_is_sent_to_log_in(self, client):
        assert client.get(QUEUE).status_code == 302
