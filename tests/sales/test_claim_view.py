"""Claiming from the queue in one click: the winner gets the lead, a loser is told who was first."""

import pytest
from django.urls import reverse

from leads.models import Handoff, HandoffStatus, StageChange
from leads.services import lead_claim, lead_release
from tests.factories import UserFactory, lead_in_stage
from tests.sales.conftest import HTMX


def claim_url(lead) -> str:
    return reverse("sales-claim", args=[Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN).pk])


@pytest.mark.django_db
class TestClaimView:
    def test_the_winner_gets_the_lead_and_a_row_saying_so(self, rep_client, sales_rep):
        lead = lead_in_stage("sql")

        response = rep_client.post(claim_url(lead), **HTMX)

        assert response.status_code == 200
        assert "is yours now" in response.content.decode()
        lead.refresh_from_db()
        assert lead.owner == sales_rep

    def test_a_loser_gets_a_409_row_naming_the_winner_and_nothing_changes(self, rep_client, other_sales_rep):
        lead = lead_in_stage("sql")
        url = claim_url(lead)
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        handoffs_before = list(Handoff.objects.filter(lead=lead).values_list("id", "status", "decided_by"))
        changes_before = StageChange.objects.filter(lead=lead).count()

        response = rep_client.post(url, **HTMX)

        assert response.status_code == 409
        body = response.content.decode()
        assert f"Already claimed by {other_sales_rep.get_full_name()}" in body
        assert "just now" in body
        assert "Next lead" in body
        lead.refresh_from_db()
        assert lead.owner == other_sales_rep
        assert list(Handoff.objects.filter(lead=lead).values_list("id", "status", "decided_by")) == handoffs_before
        assert StageChange.objects.filter(lead=lead).count() == changes_before

    def test_a_stale_row_never_claims_the_leads_next_handoff(self, rep_client, other_sales_rep):
        lead = lead_in_stage("sql")
        stale_url = claim_url(lead)
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        # The winner released it: a new handoff is open. The old row must not take it.
        lead_release(lead_id=lead.pk, user=other_sales_rep)

        response = rep_client.post(stale_url, **HTMX)

        assert response.status_code == 409
        lead.refresh_from_db()
        assert lead.owner is None

    def test_without_htmx_it_redirects_with_a_message(self, rep_client, other_sales_rep):
        lead = lead_in_stage("sql")
        url = claim_url(lead)
        lead_claim(lead_id=lead.pk, user=other_sales_rep)

        response = rep_client.post(url, follow=True)

        assert response.redirect_chain[-1][0] == reverse("sales-queue")
        assert "Already claimed by" in response.content.decode()

    @pytest.mark.parametrize("role", ["marketing", "service"])
    def test_other_roles_cannot_claim(self, client, role):
        client.force_login(UserFactory(roles=[role]))
        lead = lead_in_stage("sql")

        response = client.post(claim_url(lead), **HTMX)

        assert response.status_code == 403
        assert "Only sales reps can claim" in response.content.decode()
        lead.refresh_from_db()
        assert lead.owner is None

    def test_it_only_accepts_post(self, rep_client):
        lead = lead_in_stage("sql")
        assert rep_client.get(claim_url(lead)).status_code == 405


@pytest.mark.django_db
def test_the_lead_page_shows_the_sla_and_claims(rep_client, sales_rep, sla_policies):
    lead = lead_in_stage("sql")

    page = rep_client.get(reverse("lead-detail", args=[lead.pk])).content.decode()

    assert "In the sales queue" in page
    assert 'data-testid="sla"' in page
    assert 'data-testid="primary-action">Claim</button>' in page
    lead_claim(lead_id=lead.pk, user=sales_rep)
    page = rep_client.get(reverse("lead-detail", args=[lead.pk])).content.decode()
    assert ">Claim</button>" not in page
    assert 'data-testid="release"' in page
