"""Reject (recycle or disqualify), close as customer, release: services and their pages."""

import datetime

import pytest
from django.urls import reverse

from leads.exceptions import NotPermitted, ReasonRequired
from leads.handoffs import RejectOutcome, handoff_reject, lead_close_won, lead_set_next_step
from leads.models import Handoff, HandoffStatus, StageChange
from leads.services import lead_claim, lead_transition
from tests.factories import UserFactory, lead_in_stage
from tests.sales.conftest import HTMX


@pytest.mark.django_db
class TestReject:
    @pytest.mark.parametrize(
        ("outcome", "stage"), [(RejectOutcome.RECYCLE, "mql"), (RejectOutcome.DISQUALIFY, "disqualified")]
    )
    def test_it_settles_the_handoff_with_the_reason_and_moves_the_lead(self, sales_rep, outcome, stage):
        lead = lead_in_stage("sql")

        handoff_reject(lead_id=lead.pk, user=sales_rep, outcome=outcome, reason="Student, no budget")

        lead.refresh_from_db()
        assert lead.stage == stage
        handoff = Handoff.objects.get(lead=lead)
        assert (handoff.status, handoff.decided_by, handoff.rejection_reason) == (
            HandoffStatus.REJECTED,
            sales_rep,
            "Student, no budget",
        )
        change = StageChange.objects.filter(lead=lead).first()
        assert (change.to_stage, change.actor, change.reason) == (stage, sales_rep, "Student, no budget")

    def test_it_needs_a_reason(self, sales_rep):
        lead = lead_in_stage("sql")
        with pytest.raises(ReasonRequired):
            handoff_reject(lead_id=lead.pk, user=sales_rep, outcome=RejectOutcome.RECYCLE, reason="  ")
        assert Handoff.objects.get(lead=lead).status == HandoffStatus.OPEN

    def test_an_upgrade_turned_down_goes_back_to_customer_as_a_rejection(self, sales_rep, service_rep):
        lead = lead_in_stage("customer")
        lead_transition(lead_id=lead.pk, to_stage="service_qualified", actor=service_rep, reason="More seats")

        handoff_reject(lead_id=lead.pk, user=sales_rep, outcome=RejectOutcome.RECYCLE, reason="Already on top plan")

        lead.refresh_from_db()
        assert lead.stage == "customer"
        upgrade = Handoff.objects.filter(lead=lead).order_by("-id").first()
        assert (upgrade.status, upgrade.rejection_reason) == (HandoffStatus.REJECTED, "Already on top plan")

    def test_a_rep_cannot_reject_another_reps_lead(self, sales_rep, other_sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        with pytest.raises(NotPermitted):
            handoff_reject(lead_id=lead.pk, user=sales_rep, outcome=RejectOutcome.RECYCLE, reason="x")

    def test_the_page_form_rejects_and_comes_back_to_the_queue(self, rep_client):
        lead = lead_in_stage("sql")
        queue = reverse("sales-queue")

        response = rep_client.post(
            reverse("sales-reject", args=[lead.pk]), {"outcome": "disqualify", "reason": "Spam", "next": queue}
        )

        assert response.status_code == 302
        assert response.url == queue
        lead.refresh_from_db()
        assert lead.stage == "disqualified"

    def test_the_page_says_why_a_reason_is_missing(self, rep_client):
        lead = lead_in_stage("sql")
        response = rep_client.post(reverse("sales-reject", args=[lead.pk]), {"outcome": "recycle"}, **HTMX)
        assert response.status_code == 400
        assert "Say why" in response.content.decode()


@pytest.mark.django_db
class TestCloseWon:
    def test_the_owner_closes_with_a_reason(self, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        lead_close_won(lead_id=lead.pk, user=sales_rep, reason="Pro plan, 20 seats")

        lead.refresh_from_db()
        assert lead.stage == "customer"
        change = StageChange.objects.filter(lead=lead).first()
        assert (change.to_stage, change.reason, change.actor) == ("customer", "Pro plan, 20 seats", sales_rep)

    def test_it_needs_no_reason(self, sales_rep):
        # leads.stages asks a reason only of recycle, disqualify and reopen: a win is its own reason.
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        lead_close_won(lead_id=lead.pk, user=sales_rep, reason="  ")

        lead.refresh_from_db()
        assert (lead.stage, lead.owner) == ("customer", sales_rep)
        change = StageChange.objects.filter(lead=lead).first()
        assert (change.to_stage, change.reason) == ("customer", "")
        assert Handoff.objects.get(lead=lead).status == HandoffStatus.ACCEPTED

    def test_an_unclaimed_lead_must_be_claimed_first(self, sales_rep):
        lead = lead_in_stage("sql")
        with pytest.raises(NotPermitted, match="Claim this lead"):
            lead_close_won(lead_id=lead.pk, user=sales_rep, reason="Won")

    def test_another_reps_lead_is_not_found_from_the_page(self, rep_client, other_sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=other_sales_rep)

        response = rep_client.post(reverse("sales-close", args=[lead.pk]), {"reason": "Mine now"})

        assert response.status_code == 404
        lead.refresh_from_db()
        assert lead.stage == "sql"

    def test_marketing_cannot_close(self, client, sales_rep):
        marketer = UserFactory(roles=["marketing"])
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        client.force_login(marketer)

        response = client.post(reverse("sales-close", args=[lead.pk]), {"reason": "x"}, **HTMX)

        assert response.status_code == 403
        lead.refresh_from_db()
        assert lead.stage == "sql"


@pytest.mark.django_db
class TestRelease:
    def test_the_owner_puts_it_back_in_the_queue(self, rep_client, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)

        response = rep_client.post(reverse("sales-release", args=[lead.pk]))

        assert response.status_code == 302
        lead.refresh_from_db()
        assert lead.owner is None
        assert Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).count() == 1

    def test_another_rep_cannot_release(self, rep_client, other_sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=other_sales_rep)
        assert rep_client.post(reverse("sales-release", args=[lead.pk])).status_code == 404


@pytest.mark.django_db
class TestNextStep:
    def test_the_owner_sets_it(self, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        lead = lead_set_next_step(lead_id=lead.pk, user=sales_rep, text="Demo call", due=datetime.date(2030, 1, 2))

        assert (lead.next_step, lead.next_step_due) == ("Demo call", datetime.date(2030, 1, 2))

    def test_a_bad_date_is_refused_in_place(self, rep_client, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        response = rep_client.post(reverse("sales-next-step", args=[lead.pk]), {"text": "x", "due": "soon"}, **HTMX)
        assert response.status_code == 400
        assert "YYYY-MM-DD" in response.content.decode()

    def test_a_queue_lead_has_no_next_step_to_set(self, sales_rep):
        lead = lead_in_stage("sql")
        with pytest.raises(NotPermitted):
            lead_set_next_step(lead_id=lead.pk, user=sales_rep, text="x", due=None)
