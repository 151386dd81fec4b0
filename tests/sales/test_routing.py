"""Routing: which rep a new handoff is offered to, by the rules an admin sets."""

import pytest

from leads.models import Handoff, HandoffStatus, Notification, RepProfile, RoutingRule
from leads.services import lead_claim
from tests.factories import UserFactory, lead_in_stage


def offered(**lead_fields):
    lead = lead_in_stage(lead_fields.pop("stage", "sql"), **lead_fields)
    return Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN).offered_to


@pytest.mark.django_db
class TestRouting:
    def test_no_rule_no_routing(self, sales_rep):
        assert offered() is None

    def test_round_robin_among_the_team(self, sales_rep, other_sales_rep):
        RoutingRule.objects.create(name="Everyone")
        picks = [offered() for _ in range(4)]
        assert set(picks[:2]) == {sales_rep, other_sales_rep}
        assert picks[2:] == picks[:2]

    def test_an_away_rep_gets_none(self, sales_rep, other_sales_rep):
        RoutingRule.objects.create(name="Everyone")
        RepProfile.objects.create(user=other_sales_rep, away=True)
        assert {offered() for _ in range(3)} == {sales_rep}

    def test_a_rep_at_the_cap_gets_none(self, sales_rep, other_sales_rep):
        RoutingRule.objects.create(name="Everyone", max_open_leads=1)
        mine = lead_in_stage("sql")
        lead_claim(lead_id=mine.pk, user=sales_rep)
        assert offered() == other_sales_rep
        assert offered() is None  # both full now: it waits in the shared queue

    def test_by_territory(self, sales_rep, other_sales_rep):
        RoutingRule.objects.create(name="By country", by_territory=True)
        RepProfile.objects.create(user=sales_rep, territories="DE, AT")
        RepProfile.objects.create(user=other_sales_rep, territories="US")
        assert offered(country="AT") == sales_rep
        assert offered(country="US") == other_sales_rep
        assert offered(country="FR") is None

    def test_by_segment_with_rules_in_order(self, sales_rep, other_sales_rep):
        enterprise = RoutingRule.objects.create(name="Enterprise", position=1, min_company_size=1000)
        enterprise.reps.add(sales_rep)
        smb = RoutingRule.objects.create(name="SMB", position=2, max_company_size=999)
        smb.reps.add(other_sales_rep)
        assert offered(company_size=5000) == sales_rep
        assert offered(company_size=50) == other_sales_rep

    def test_a_rule_for_one_kind_only(self, sales_rep):
        RoutingRule.objects.create(name="PQLs", kind="product_to_sales")
        assert offered(stage="sql") is None
        assert offered(stage="pql") == sales_rep

    def test_inactive_users_and_rules_are_skipped(self, sales_rep):
        RoutingRule.objects.create(name="Off", active=False)
        assert offered() is None
        rule = RoutingRule.objects.create(name="On")
        gone = UserFactory(roles=["sales"], is_active=False)
        rule.reps.add(gone)
        assert offered() is None


@pytest.mark.django_db
def test_the_rep_routing_picks_is_notified(sales_rep, sla_policies):
    RoutingRule.objects.create(name="Everyone")
    lead = lead_in_stage("sql", first_name="Ada", last_name="Byron")

    [notification] = Notification.objects.filter(recipient=sales_rep)
    assert notification.text.startswith("Routing offered you Ada Byron (Marketing → Sales). Claim it within 3 hours")
    assert Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN).offered_to == sales_rep
