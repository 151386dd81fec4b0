"""My leads: a rep's open leads by urgency of the next step."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.models import Lead
from leads.services import lead_claim
from tests.factories import lead_in_stage

MY_LEADS = reverse("sales-my-leads")


def claimed(user, email: str, due: datetime.date | None = None, step: str = "") -> Lead:
    lead = lead_in_stage("sql", email=email)
    lead_claim(lead_id=lead.pk, user=user)
    Lead.objects.filter(pk=lead.pk).update(next_step=step, next_step_due=due)
    return lead


@pytest.mark.django_db
class TestMyLeads:
    def test_it_sorts_overdue_today_none_then_later(self, rep_client, sales_rep):
        today = timezone.localdate()
        claimed(sales_rep, "later@x.example", today + datetime.timedelta(days=3), "Send proposal")
        claimed(sales_rep, "none@x.example")
        claimed(sales_rep, "today@x.example", today, "Call back")
        claimed(sales_rep, "overdue@x.example", today - datetime.timedelta(days=1), "Demo")

        response = rep_client.get(MY_LEADS)

        rows = response.context["rows"]
        assert [(lead.email, lead.urgency_name) for lead in rows] == [
            ("overdue@x.example", "overdue"),
            ("today@x.example", "today"),
            ("none@x.example", "none"),
            ("later@x.example", "later"),
        ]
        body = response.content.decode()
        assert "next-step-overdue" in body
        assert "No next step set" in body

    def test_it_lists_only_the_reps_own_open_leads(self, rep_client, sales_rep, other_sales_rep):
        claimed(sales_rep, "mine@x.example")
        claimed(other_sales_rep, "theirs@x.example")
        lead_in_stage("sql", email="queue@x.example")

        assert [lead.email for lead in rep_client.get(MY_LEADS).context["rows"]] == ["mine@x.example"]

    def test_its_query_count_does_not_grow_with_the_rows(self, rep_client, sales_rep):
        claimed(sales_rep, "one@x.example")
        with CaptureQueriesContext(connection) as few:
            rep_client.get(MY_LEADS)
        for i in range(10):
            claimed(sales_rep, f"more{i}@x.example")
        with CaptureQueriesContext(connection) as many:
            rep_client.get(MY_LEADS)
        assert len(many) == len(few)

    def test_it_explains_an_empty_list(self, rep_client):
        assert "You have no open leads" in rep_client.get(MY_LEADS).content.decode()

    def test_marketing_is_refused(self, client, marketer):
        client.force_login(marketer)
        assert client.get(MY_LEADS).status_code == 403
