"""Routing's offer is a turn, not a hint: only the rep it names (or an admin) may claim the lead until
the offer lapses; everyone else is refused with who has it and until when, in the service, the
queue's claim button, the lead page and the API."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from leads.exceptions import OfferedToAnotherRep, TransitionNotAllowed
from leads.handoffs import handoff_decline_offer, handoff_sla_sweep
from leads.models import Handoff, HandoffStatus, RepProfile, RoutingRule, StageChange
from leads.services import lead_claim
from tests.factories import lead_in_stage
from tests.sales.conftest import HTMX


@pytest.fixture
def offered_to_other(db, sales_rep, other_sales_rep, sla_policies):
    """A lead routing offered to rep2 (only rep2 in the rule), with the 4-hour SLA of its kind."""
    rule = RoutingRule.objects.create(name="Rep2 only")
    rule.reps.add(other_sales_rep)
    lead = lead_in_stage("sql", first_name="Ada", last_name="Byron")
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    assert handoff.offered_to == other_sales_rep
    return handoff


def open_rows(handoff) -> list:
    return list(Handoff.objects.filter(lead=handoff.lead_id).values_list("id", "status", "decided_by", "offered_to"))


@pytest.mark.django_db
class TestTheClaimService:
    def test_the_offer_lasts_until_the_sla_deadline(self, offered_to_other):
        assert offered_to_other.offered_until == offered_to_other.due_at
        assert offered_to_other.due_at - offered_to_other.opened_at == timedelta(hours=4)

    def test_another_rep_is_refused_with_who_and_until_when_and_nothing_is_written(
        self, offered_to_other, sales_rep, other_sales_rep
    ):
        before = open_rows(offered_to_other)
        changes = StageChange.objects.count()

        with pytest.raises(OfferedToAnotherRep) as refused:
            lead_claim(lead_id=offered_to_other.lead_id, user=sales_rep)

        until = timezone.localtime(offered_to_other.offered_until).strftime("%Y-%m-%d %H:%M UTC")
        assert refused.value.message == f"Offered to {other_sales_rep.get_full_name()} until {until}."
        assert refused.value.code == "offered_to_another_rep"
        assert open_rows(offered_to_other) == before
        assert StageChange.objects.count() == changes
        offered_to_other.lead.refresh_from_db()
        assert offered_to_other.lead.owner is None

    def test_the_rep_it_is_offered_to_claims_it(self, offered_to_other, other_sales_rep):
        lead_claim(lead_id=offered_to_other.lead_id, user=other_sales_rep)
        offered_to_other.refresh_from_db()
        assert (offered_to_other.status, offered_to_other.decided_by) == (HandoffStatus.ACCEPTED, other_sales_rep)

    def test_an_admin_may_claim_it_all_the_same(self, offered_to_other, admin_user):
        lead_claim(lead_id=offered_to_other.lead_id, user=admin_user)
        offered_to_other.lead.refresh_from_db()
        assert offered_to_other.lead.owner == admin_user

    def test_once_the_offer_lapses_any_rep_may_claim(self, offered_to_other, sales_rep):
        Handoff.objects.filter(pk=offered_to_other.pk).update(offered_until=timezone.now() - timedelta(seconds=1))
        lead_claim(lead_id=offered_to_other.lead_id, user=sales_rep)
        offered_to_other.lead.refresh_from_db()
        assert offered_to_other.lead.owner == sales_rep

    def test_an_offer_without_a_deadline_says_so(self, sales_rep, other_sales_rep):
        RoutingRule.objects.create(name="Rep2 only").reps.add(other_sales_rep)
        lead = lead_in_stage("sql")  # no SLA policy: no deadline
        handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
        assert (handoff.offered_to, handoff.offered_until) == (other_sales_rep, None)

        with pytest.raises(OfferedToAnotherRep, match=r"with no deadline: .* may claim it or pass it back"):
            lead_claim(lead_id=lead.pk, user=sales_rep)

    def test_a_pass_gives_it_back_to_the_whole_team(self, offered_to_other, sales_rep, other_sales_rep):
        with pytest.raises(TransitionNotAllowed, match="not offered to you"):
            handoff_decline_offer(handoff_id=offered_to_other.pk, user=sales_rep)

        handoff_decline_offer(handoff_id=offered_to_other.pk, user=other_sales_rep)

        offered_to_other.refresh_from_db()
        assert (offered_to_other.offered_to, offered_to_other.offered_until) == (None, None)
        lead_claim(lead_id=offered_to_other.lead_id, user=sales_rep)

    def test_a_breach_gives_the_next_rep_a_fresh_turn(self, offered_to_other, sales_rep, other_sales_rep):
        RoutingRule.objects.all().delete()
        RoutingRule.objects.create(name="Everyone")
        RepProfile.objects.create(user=sales_rep)
        Handoff.objects.filter(pk=offered_to_other.pk).update(
            due_at=timezone.now() - timedelta(minutes=1), offered_until=timezone.now() - timedelta(minutes=1)
        )

        assert handoff_sla_sweep() == 1

        offered_to_other.refresh_from_db()
        assert offered_to_other.offered_to == sales_rep
        turn = offered_to_other.offered_until - timezone.now()
        assert timedelta(hours=3, minutes=59) < turn <= timedelta(hours=4)
        with pytest.raises(OfferedToAnotherRep, match="Offered to"):
            lead_claim(lead_id=offered_to_other.lead_id, user=other_sales_rep)


@pytest.mark.django_db
class TestInTheBrowser:
    def test_the_queue_hides_a_live_offer_to_a_colleague_and_shows_a_lapsed_one(
        self, offered_to_other, rep_client, other_sales_rep
    ):
        assert rep_client.get(reverse("sales-queue")).context["rows"] == []

        Handoff.objects.filter(pk=offered_to_other.pk).update(offered_until=timezone.now() - timedelta(minutes=5))
        page = rep_client.get(reverse("sales-queue"))

        assert [row.pk for row in page.context["rows"]] == [offered_to_other.pk]
        assert f"Offer to {other_sales_rep.get_full_name()} lapsed" in page.content.decode()

    def test_the_rep_sees_their_offer_with_its_deadline_and_can_pass(self, offered_to_other, client, other_sales_rep):
        client.force_login(other_sales_rep)
        page = client.get(reverse("sales-queue")).content.decode()
        until = timezone.localtime(offered_to_other.offered_until).strftime("%H:%M")
        assert "Offered to you until <time" in page and f">{until}</time>" in page
        assert 'data-testid="pass"' in page

        response = client.post(reverse("sales-pass", args=[offered_to_other.pk]), follow=True)

        assert "back in the team&#x27;s queue" in response.content.decode()
        offered_to_other.refresh_from_db()
        assert offered_to_other.offered_to is None

    def test_a_stale_claim_button_turns_into_the_reason(self, offered_to_other, rep_client, other_sales_rep):
        before = open_rows(offered_to_other)

        response = rep_client.post(reverse("sales-claim", args=[offered_to_other.pk]), **HTMX)

        assert response.status_code == 409
        body = response.content.decode()
        assert f"Offered to {other_sales_rep.get_full_name()} until" in body
        assert 'data-testid="queue-row-taken"' in body
        assert open_rows(offered_to_other) == before

    def test_the_lead_page_says_whose_turn_it_is_instead_of_claim(self, offered_to_other, rep_client, client):
        url = reverse("lead-detail", args=[offered_to_other.lead_id])
        page = rep_client.get(url).content.decode()
        assert 'data-testid="claim-refusal"' in page
        assert "Offered to" in page and 'data-testid="primary-action"' not in page

        client.force_login(offered_to_other.offered_to)
        page = client.get(url).content.decode()
        assert 'data-testid="primary-action">Claim</button>' in page


@pytest.mark.django_db
class TestInTheApi:
    def api(self, user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    @pytest.mark.parametrize("path", ["/api/v1/handoffs/{handoff}/accept/", "/api/v1/leads/{lead}/claim/"])
    def test_both_claim_doors_answer_409_with_the_reason(self, offered_to_other, sales_rep, other_sales_rep, path):
        before = open_rows(offered_to_other)

        response = self.api(sales_rep).post(path.format(handoff=offered_to_other.pk, lead=offered_to_other.lead_id))

        assert response.status_code == 409
        body = response.json()
        assert body["type"] == "offered_to_another_rep"
        assert body["message"].startswith(f"Offered to {other_sales_rep.get_full_name()} until ")
        assert body["errors"] == {}
        assert open_rows(offered_to_other) == before

    def test_the_queue_says_whose_offer_it_is(self, offered_to_other, other_sales_rep, admin_user):
        [item] = self.api(other_sales_rep).get("/api/v1/sales/queue/").json()["results"]
        assert (item["offered_to_me"], item["offered_to"]) == (True, other_sales_rep.get_full_name())
        assert item["offered_until"] is not None

        [item] = self.api(admin_user).get("/api/v1/sales/queue/").json()["results"]
        assert item["offered_to_me"] is False

    def test_pass(self, offered_to_other, sales_rep, other_sales_rep):
        refused = self.api(sales_rep).post(f"/api/v1/handoffs/{offered_to_other.pk}/pass/")
        assert refused.status_code == 409 and refused.json()["type"] == "transition_not_allowed"

        response = self.api(other_sales_rep).post(f"/api/v1/handoffs/{offered_to_other.pk}/pass/")

        assert response.status_code == 200
        assert (response.json()["offered_to"], response.json()["offered_until"]) == (None, None)
        assert self.api(sales_rep).post(f"/api/v1/handoffs/{offered_to_other.pk}/accept/").status_code == 200
