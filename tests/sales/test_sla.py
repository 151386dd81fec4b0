"""SLA deadlines, the breach sweep, notifications in the top bar and by email."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from leadcrm.celery import app
from leads.handoffs import handoff_sla_sweep, notification_mark_read, upgrade_flag
from leads.models import Handoff, HandoffStatus, Notification, RepProfile, RoutingRule
from leads.privacy import person_erase
from leads.services import lead_claim, lead_release
from leads.tasks import handoff_sla_sweep_task
from tests.factories import lead_in_stage


def overdue(lead, hours: int = 1) -> Handoff:
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    Handoff.objects.filter(pk=handoff.pk).update(due_at=timezone.now() - timedelta(hours=hours))
    return handoff


@pytest.mark.django_db
class TestDeadline:
    @pytest.mark.parametrize(("stage", "hours"), [("sql", 4), ("pql", 8)])
    def test_a_handoff_gets_the_deadline_of_its_kind(self, sla_policies, stage, hours):
        lead = lead_in_stage(stage)
        handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
        assert handoff.due_at - handoff.opened_at == timedelta(hours=hours)

    def test_an_upgrade_handoff_too(self, sla_policies):
        handoff = Handoff.objects.get(lead=lead_in_stage("service_qualified"), status=HandoffStatus.OPEN)
        assert handoff.due_at - handoff.opened_at == timedelta(hours=24)

    def test_a_released_lead_gets_a_fresh_deadline(self, sla_policies, sales_rep):
        lead = lead_in_stage("sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        handoff = lead_release(lead_id=lead.pk, user=sales_rep)
        handoff.refresh_from_db()
        assert handoff.due_at - handoff.opened_at == timedelta(hours=4)

    def test_no_policy_no_deadline(self):
        assert Handoff.objects.get(lead=lead_in_stage("sql")).due_at is None


@pytest.mark.django_db
class TestSweep:
    def test_it_marks_a_breach_once_and_notifies_the_team_once(
        self, sales_rep, other_sales_rep, marketer, mailoutbox, django_capture_on_commit_callbacks
    ):
        lead = lead_in_stage("sql", first_name="Grace", last_name="Hopper")
        handoff = overdue(lead)
        lead_in_stage("sql")  # not due: untouched

        with django_capture_on_commit_callbacks(execute=True):
            assert handoff_sla_sweep() == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert handoff_sla_sweep() == 0  # idempotent: a second run changes and sends nothing

        handoff.refresh_from_db()
        assert handoff.sla_breached_at is not None
        assert handoff.status == HandoffStatus.OPEN
        notes = Notification.objects.order_by("recipient__username")
        assert [n.recipient for n in notes] == [sales_rep, other_sales_rep]
        assert "SLA breached: Grace Hopper" in notes[0].text
        assert sorted(m.to[0] for m in mailoutbox) == sorted([sales_rep.email, other_sales_rep.email])
        assert "Grace Hopper" in mailoutbox[0].subject

    def test_a_settled_handoff_is_not_a_breach(self, sales_rep):
        lead = lead_in_stage("sql")
        overdue(lead)
        lead_claim(lead_id=lead.pk, user=sales_rep)
        assert handoff_sla_sweep() == 0

    def test_the_task_runs_the_sweep(self, sales_rep):
        overdue(lead_in_stage("sql"))
        assert handoff_sla_sweep_task.delay().get() == 1

    def test_with_routing_on_the_lead_is_offered_to_the_next_rep(self, sales_rep, other_sales_rep):
        RoutingRule.objects.create(name="Everyone")
        lead = lead_in_stage("sql")
        handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
        first = handoff.offered_to_id
        assert first in {sales_rep.pk, other_sales_rep.pk}
        overdue(lead)

        handoff_sla_sweep()

        handoff.refresh_from_db()
        assert handoff.offered_to_id in {sales_rep.pk, other_sales_rep.pk} - {first}


@pytest.mark.django_db
class TestNotificationsInTheTopBar:
    def test_the_bell_shows_the_unread_count_and_opening_one_marks_it_read(self, rep_client, sales_rep):
        overdue(lead_in_stage("sql", first_name="Alan", last_name="Turing"))
        handoff_sla_sweep()

        page = rep_client.get(reverse("home")).content.decode()
        assert 'data-testid="notif-count">1<' in page
        assert "SLA breached: Alan Turing" in page

        notification = Notification.objects.get(recipient=sales_rep)
        response = rep_client.get(reverse("notification-open", args=[notification.pk]))
        assert response.status_code == 302
        assert response.url == reverse("sales-queue")
        notification.refresh_from_db()
        assert notification.read_at is not None
        assert 'data-testid="notif-count"' not in rep_client.get(reverse("home")).content.decode()

    def test_mark_all_read(self, rep_client, sales_rep):
        overdue(lead_in_stage("sql"))
        overdue(lead_in_stage("pql"))
        handoff_sla_sweep()
        response = rep_client.post(reverse("notifications-read-all"))
        assert response.status_code == 302
        assert Notification.objects.filter(recipient=sales_rep, read_at__isnull=True).count() == 0

    def test_one_cannot_open_anothers_notification(self, rep_client, other_sales_rep):
        overdue(lead_in_stage("sql"))
        handoff_sla_sweep()
        theirs = Notification.objects.get(recipient=other_sales_rep)
        assert rep_client.get(reverse("notification-open", args=[theirs.pk])).status_code == 404
        assert notification_mark_read(user=other_sales_rep) == 1


@pytest.mark.django_db
def test_with_no_other_rep_free_a_breached_offer_goes_to_the_whole_team(sales_rep, other_sales_rep):
    RoutingRule.objects.create(name="Everyone")
    lead = lead_in_stage("sql")
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    other = other_sales_rep if handoff.offered_to_id == sales_rep.pk else sales_rep
    RepProfile.objects.update_or_create(user=other, defaults={"away": True})
    overdue(lead)

    handoff_sla_sweep()

    handoff.refresh_from_db()
    assert handoff.offered_to is None


def test_the_sweep_is_on_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["handoffs-sla-sweep"]
    assert entry["task"] == "leads.tasks.handoff_sla_sweep_task"
    assert entry["task"] in app.tasks


@pytest.mark.django_db
def test_a_mail_server_down_does_not_undo_the_breach(sales_rep, monkeypatch, django_capture_on_commit_callbacks):
    def refuse(messages):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr("leads.handoffs.send_mass_mail", refuse)
    overdue(lead_in_stage("sql"))

    with django_capture_on_commit_callbacks(execute=True):
        assert handoff_sla_sweep() == 1

    assert Notification.objects.filter(recipient=sales_rep).count() == 1
    assert handoff_sla_sweep() == 0


@pytest.mark.django_db
def test_erasing_a_lead_takes_every_notification_naming_it(sales_rep, other_sales_rep, service_rep):
    RoutingRule.objects.create(name="Everyone")
    lead = lead_in_stage("customer", first_name="Erase", last_name="Me")
    upgrade_flag(lead_id=lead.pk, user=service_rep, wants="More", urgency="high", consent=True)  # an offer notification
    overdue(lead)
    handoff_sla_sweep()  # breach notifications, and a second offer
    assert Notification.objects.filter(text__contains="Erase Me").count() >= 3

    person_erase(lead_id=lead.pk, actor_label="test")

    assert not Notification.objects.filter(text__contains="Erase Me").exists()
