"""Off-boarding a rep: their open leads go back to the sales queue, the account is deactivated,
and a user who owns leads cannot be deleted (Lead.owner is PROTECT)."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db.models import ProtectedError
from django.urls import reverse

from leads.exceptions import TransitionNotAllowed
from leads.models import AuditEntry, Handoff, HandoffStatus, Lead
from leads.services import lead_claim, rep_offboard
from tests.factories import UserFactory, lead_in_stage

pytestmark = pytest.mark.django_db
User = get_user_model()
CHANGELIST = reverse("admin:auth_user_changelist")


def owned_by(rep, stage: str = "sql") -> Lead:
    lead = lead_in_stage(stage)
    lead_claim(lead_id=lead.pk, user=rep)
    lead.refresh_from_db()
    assert lead.owner_id == rep.pk
    return lead


def test_open_leads_go_back_to_the_queue_and_the_account_is_deactivated(sales_rep, admin_user):
    first, second = owned_by(sales_rep), owned_by(sales_rep)
    won = owned_by(sales_rep)
    Lead.objects.filter(pk=won.pk).update(stage="customer")  # history: a customer keeps its owner
    someone_elses = owned_by(UserFactory(roles=["sales"]))

    result = rep_offboard(user=sales_rep, by=admin_user)

    assert sorted(result.released) == sorted([first.pk, second.pk])
    sales_rep.refresh_from_db()
    assert sales_rep.is_active is False
    for lead in (first, second):
        lead.refresh_from_db()
        assert lead.owner_id is None and lead.claimed_at is None
        handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)  # waiting in the queue
        assert handoff.opened_by == admin_user
        assert "left the team" in handoff.reason
        assert handoff.offered_to_id != sales_rep.pk  # routing never offers it back to them
    assert Lead.objects.get(pk=won.pk).owner_id == sales_rep.pk
    assert Lead.objects.get(pk=someone_elses.pk).owner_id != sales_rep.pk
    audited = AuditEntry.objects.filter(action="lead_released", actor=admin_user)
    assert sorted(audited.values_list("target_id", flat=True)) == sorted([first.pk, second.pk])


def test_an_open_handoff_offered_to_them_is_withdrawn(sales_rep, admin_user):
    waiting = lead_in_stage("sql")
    Handoff.objects.filter(lead=waiting, status=HandoffStatus.OPEN).update(offered_to=sales_rep, offered_until=None)
    result = rep_offboard(user=sales_rep, by=admin_user)
    assert result.offers_withdrawn == 1
    assert Handoff.objects.get(lead=waiting, status=HandoffStatus.OPEN).offered_to_id is None


def test_a_lead_that_cannot_be_released_changes_nothing(sales_rep, admin_user):
    fine = owned_by(sales_rep)
    stuck = owned_by(sales_rep)
    # An owned lead that is also waiting in the queue: lead_release refuses it.
    Handoff.objects.filter(lead=stuck).update(status=HandoffStatus.OPEN)
    with pytest.raises(TransitionNotAllowed, match=f"Lead {stuck.pk}"):
        rep_offboard(user=sales_rep, by=admin_user)
    sales_rep.refresh_from_db()
    assert sales_rep.is_active is True
    assert Lead.objects.get(pk=fine.pk).owner_id == sales_rep.pk
    assert not AuditEntry.objects.filter(action="lead_released").exists()


def test_a_user_who_owns_leads_cannot_be_deleted(sales_rep):
    lead = owned_by(sales_rep)
    with pytest.raises(ProtectedError):
        sales_rep.delete()
    assert Lead.objects.get(pk=lead.pk).owner_id == sales_rep.pk


def test_the_admin_action_offboards_the_selected_reps(admin_client, sales_rep):
    lead = owned_by(sales_rep)
    response = admin_client.post(
        CHANGELIST, {"action": "offboard_users", "_selected_action": [sales_rep.pk]}, follow=True
    )
    assert response.status_code == 200
    text = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "is deactivated; 1 open lead went back to the sales queue" in text
    assert User.objects.get(pk=sales_rep.pk).is_active is False
    assert Lead.objects.get(pk=lead.pk).owner_id is None


def test_the_admin_refuses_to_delete_an_owner_and_says_what_to_do(admin_client, sales_rep):
    owned_by(sales_rep)
    url = reverse("admin:auth_user_delete", args=[sales_rep.pk])
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    text = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "owns 1 lead and cannot be deleted" in text
    assert "Off-board" in text
    assert User.objects.filter(pk=sales_rep.pk).exists()


def test_the_admin_still_deletes_a_user_without_leads(admin_client):
    leaver = UserFactory()
    url = reverse("admin:auth_user_delete", args=[leaver.pk])
    admin_client.post(url, {"post": "yes"})
    assert not User.objects.filter(pk=leaver.pk).exists()
