"""The lead page for sales: Claim as the header's action for a queued lead, Close as customer for its
owner (confirmed, no reason asked), refusals that say why; notes as the lead's last activity; the
Unsubscribed badge wherever a lead shows in the sales and service pages."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads.handoffs import upgrade_flag
from leads.models import Handoff, HandoffStatus, Lead, Notification
from leads.services import lead_claim
from tests.factories import lead_in_stage


def detail(lead) -> str:
    return reverse("lead-detail", args=[lead.pk])


@pytest.mark.django_db
class TestHeaderAction:
    def test_a_queued_lead_offers_claim_to_a_rep(self, rep_client, sales_rep):
        lead = lead_in_stage("sql")
        handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)

        page = rep_client.get(detail(lead)).content.decode()

        assert f'action="{reverse("sales-claim", args=[handoff.pk])}"' in page
        assert 'data-testid="primary-action">Claim</button>' in page
        response = rep_client.post(reverse("sales-claim", args=[handoff.pk]))
        assert response.url == detail(lead)
        lead.refresh_from_db()
        assert lead.owner == sales_rep

    def test_marketing_sees_no_claim(self, client, marketer):
        client.force_login(marketer)
        page = client.get(detail(lead_in_stage("sql"))).content.decode()
        assert ">Claim</button>" not in page

    def test_the_owner_closes_from_the_page_after_a_confirmation_without_a_reason(self, rep_client, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        page = rep_client.get(detail(lead)).content.decode()

        assert 'data-dialog="close-dialog" data-testid="primary-action">Close as customer</button>' in page
        assert 'data-testid="close-dialog"' in page and "(optional)" in page
        response = rep_client.post(
            reverse("sales-close", args=[lead.pk]), {"reason": "", "next": detail(lead)}, follow=True
        )
        assert response.redirect_chain[-1][0] == detail(lead)
        assert "is a customer now" in response.content.decode()
        lead.refresh_from_db()
        assert (lead.stage, lead.owner) == ("customer", sales_rep)
        assert Handoff.objects.get(lead=lead).status == HandoffStatus.ACCEPTED

    def test_the_pages_move_form_closes_through_the_same_door(self, client, service_rep, sales_rep):
        # Closing an upgrade from the page tells the service rep who flagged it (leads.handoffs).
        lead = lead_in_stage("customer")
        upgrade_flag(lead_id=lead.pk, user=service_rep, wants="SSO", urgency="high", consent=True)
        lead_claim(lead_id=lead.pk, user=sales_rep)
        client.force_login(sales_rep)

        response = client.post(
            reverse("lead-move", args=[lead.pk]), {"to_stage": "customer", "from_stage": "service_qualified"}
        )

        assert response.status_code == 302
        lead.refresh_from_db()
        assert lead.stage == "customer"
        assert Notification.objects.filter(recipient=service_rep, text__contains="is closed").exists()

    def test_a_refused_close_says_why(self, rep_client, sales_rep):
        # A stale page: the rep's button was for a lead still in the queue, never claimed.
        lead = lead_in_stage("sql")

        response = rep_client.post(reverse("sales-close", args=[lead.pk]), {"next": detail(lead)}, follow=True)

        assert "Claim this lead before closing it." in response.content.decode()
        lead.refresh_from_db()
        assert (lead.stage, lead.owner) == ("sql", None)


@pytest.mark.django_db
class TestNotesAreActivity:
    @pytest.mark.parametrize("kind", ["note", "call", "email"])
    def test_a_note_or_a_logged_call_or_email_is_the_last_activity(self, rep_client, sales_rep, kind):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=timezone.now() - timedelta(days=3))

        rep_client.post(reverse("lead-note-add", args=[lead.pk]), {"kind": kind, "body": "Spoke to Ada."})

        lead.refresh_from_db()
        note = lead.notes.get()
        assert lead.last_activity_at == note.created_at
        row = rep_client.get(reverse("sales-my-leads")).context["rows"][0]
        assert row.last_activity_at == note.created_at

    def test_a_newer_event_stays_the_last_activity(self, rep_client, sales_rep):
        lead = lead_in_stage("sql")
        later = timezone.now() + timedelta(hours=1)
        Lead.objects.filter(pk=lead.pk).update(last_activity_at=later)

        rep_client.post(reverse("lead-note-add", args=[lead.pk]), {"kind": "note", "body": "Hm."})

        lead.refresh_from_db()
        assert lead.last_activity_at == later

    def test_a_refused_note_changes_nothing(self, client, sales_rep, other_sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        client.force_login(sales_rep)
        before = Lead.objects.get(pk=lead.pk).last_activity_at

        response = client.post(reverse("lead-note-add", args=[lead.pk]), {"kind": "note", "body": "x"})

        assert response.status_code == 404
        assert Lead.objects.get(pk=lead.pk).last_activity_at == before


@pytest.mark.django_db
class TestUnsubscribedBadge:
    BADGE = ">Unsubscribed</span>"

    def test_the_queue_my_leads_and_the_lead_page(self, rep_client, sales_rep):
        queued = lead_in_stage("sql", unsubscribed=True)
        mine = lead_in_stage("sql", unsubscribed=True)
        lead_claim(lead_id=mine.pk, user=sales_rep)
        lead_in_stage("sql")  # subscribed: no badge

        assert rep_client.get(reverse("sales-queue")).content.decode().count(self.BADGE) == 1
        assert rep_client.get(reverse("sales-my-leads")).content.decode().count(self.BADGE) == 1
        assert self.BADGE in rep_client.get(detail(queued)).content.decode()

    def test_the_service_pages(self, client, service_rep):
        client.force_login(service_rep)
        customer = lead_in_stage("customer", company="Globex", unsubscribed=True)
        lead_in_stage("customer", company="Globex")
        lead_in_stage("pql", unsubscribed=True)
        lead_in_stage("pql")
        upgrade_flag(lead_id=customer.pk, user=service_rep, wants="SSO", urgency="high", consent=True)

        assert client.get(reverse("service-search"), {"q": "globex"}).content.decode().count(self.BADGE) == 1
        assert client.get(reverse("service-flags")).content.decode().count(self.BADGE) == 1
        assert client.get(reverse("service-pqls")).content.decode().count(self.BADGE) == 1

    def test_the_badge_costs_no_query_per_row(self, rep_client):
        lead_in_stage("sql", unsubscribed=True)
        with CaptureQueriesContext(connection) as one:
            rep_client.get(reverse("sales-queue"))
        for _ in range(5):
            lead_in_stage("sql", unsubscribed=True)
        with CaptureQueriesContext(connection) as six:
            page = rep_client.get(reverse("sales-queue"))
        assert page.content.decode().count(self.BADGE) == 6
        assert len(six) == len(one)
