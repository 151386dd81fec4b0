"""The service workspace: find a customer, flag upgrade interest, follow the flags, PQLs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from leads.exceptions import ConsentRequired, NotPermitted, ReasonRequired
from leads.handoffs import RejectOutcome, handoff_reject, lead_close_won, upgrade_flag
from leads.models import Handoff, HandoffKind, HandoffStatus, Notification, StageChange, UpgradeFlag
from leads.services import lead_claim, lead_transition
from tests.factories import lead_in_stage


@pytest.fixture
def service_client(client, service_rep):
    client.force_login(service_rep)
    return client


@pytest.mark.django_db
class TestUpgradeFlag:
    def test_it_makes_the_customer_service_qualified_and_opens_a_handoff_to_sales(self, service_rep):
        customer = lead_in_stage("customer")

        result = upgrade_flag(
            lead_id=customer.pk, user=service_rep, wants="40 more seats", urgency="high", consent=True, note="Q3"
        )

        customer.refresh_from_db()
        assert customer.stage == "service_qualified"
        assert customer.owner is None
        handoff = result.handoff
        assert (handoff.kind, handoff.status, handoff.opened_by) == (
            HandoffKind.SERVICE_TO_SALES,
            HandoffStatus.OPEN,
            service_rep,
        )
        change = StageChange.objects.filter(lead=customer).first()
        assert (change.from_stage, change.to_stage, change.actor) == ("customer", "service_qualified", service_rep)
        assert "40 more seats" in change.reason
        assert (result.flag.wants, result.flag.urgency, result.flag.handoff) == ("40 more seats", "high", handoff)

    def test_it_says_what_is_missing(self, service_rep):
        customer = lead_in_stage("customer")
        with pytest.raises(ReasonRequired):
            upgrade_flag(lead_id=customer.pk, user=service_rep, wants=" ", urgency="high", consent=True)

    @pytest.mark.parametrize("stage", ["sql", "mql", "service_qualified"])
    def test_only_a_customer_can_be_flagged(self, service_rep, stage):
        lead = lead_in_stage(stage)
        with pytest.raises(NotPermitted, match="Only a customer"):
            upgrade_flag(lead_id=lead.pk, user=service_rep, wants="x", urgency="high", consent=True)

    @pytest.mark.parametrize("role_fixture", ["sales_rep", "marketer"])
    def test_other_roles_cannot_flag(self, request, role_fixture):
        user = request.getfixturevalue(role_fixture)
        customer = lead_in_stage("customer")
        with pytest.raises(NotPermitted):
            upgrade_flag(lead_id=customer.pk, user=user, wants="x", urgency="high", consent=True)


@pytest.mark.django_db
class TestServicePages:
    def test_search_finds_by_company_customers_first(self, service_client):
        lead_in_stage("mql", email="a@initech.example", company="Initech")
        lead_in_stage("customer", email="b@initech.example", company="Initech")

        response = service_client.get(reverse("service-search"), {"q": "initech"})

        assert [lead.email for lead in response.context["results"]] == ["b@initech.example", "a@initech.example"]
        assert response.content.decode().count('data-testid="flag-upgrade"') == 1

    def test_search_fills_the_page_with_the_newest_customers_then_the_newest_others(self, service_client):
        others = [lead_in_stage("mql", email=f"o{n}@initech.example", company="Initech") for n in range(30)]
        customers = [lead_in_stage("customer", email=f"c{n}@initech.example", company="Initech") for n in range(3)]
        lead_in_stage("customer", email="c@globex.example", company="Globex")

        response = service_client.get(reverse("service-search"), {"q": "initech"})

        expected = [lead.pk for lead in reversed(customers)] + [lead.pk for lead in reversed(others)][:22]
        assert [lead.pk for lead in response.context["results"]] == expected

    def test_a_flag_from_the_page_lands_in_the_sales_queue(self, service_client, client, sales_rep):
        customer = lead_in_stage("customer", email="c@globex.example")

        response = service_client.post(
            reverse("service-flag", args=[customer.pk]),
            {"wants": "Enterprise plan", "urgency": "high", "note": "Renewal in May", "consent": "1"},
        )

        assert response.status_code == 302
        assert response.url == reverse("service-flags")
        client.force_login(sales_rep)
        queue = client.get(reverse("sales-queue"))
        assert [h.lead.email for h in queue.context["rows"]] == ["c@globex.example"]

    def test_the_flag_needs_the_customers_consent(self, service_client):
        customer = lead_in_stage("customer")
        response = service_client.post(
            reverse("service-flag", args=[customer.pk]), {"wants": "More", "urgency": "high"}, follow=True
        )
        assert "Ask the customer first" in response.content.decode()
        customer.refresh_from_db()
        assert customer.stage == "customer"

    def test_the_flags_page_says_what_became_of_each(self, service_client, service_rep, sales_rep):
        waiting = lead_in_stage("customer", email="w@x.example")
        worked = lead_in_stage("customer", email="k@x.example")
        upgrade_flag(lead_id=waiting.pk, user=service_rep, wants="More seats", urgency="low", consent=True)
        upgrade_flag(lead_id=worked.pk, user=service_rep, wants="SSO", urgency="high", consent=True)
        lead_claim(lead_id=worked.pk, user=sales_rep)

        response = service_client.get(reverse("service-flags"))

        outcomes = {flag.lead.email: flag.outcome[1] for flag in response.context["flags"]}
        assert outcomes["w@x.example"] == "Waiting in the sales queue"
        assert outcomes["k@x.example"].startswith("Being worked by")
        assert UpgradeFlag.objects.count() == 2

    def test_the_pql_list(self, service_client):
        lead_in_stage("pql", email="p@x.example")
        lead_in_stage("sql", email="s@x.example")
        response = service_client.get(reverse("service-pqls"))
        assert [lead.email for lead in response.context["leads"]] == ["p@x.example"]

    @pytest.mark.parametrize("name", ["service-search", "service-flags", "service-pqls"])
    def test_sales_is_refused_the_service_pages(self, client, sales_rep, name):
        client.force_login(sales_rep)
        assert client.get(reverse(name)).status_code == 403

    def test_sales_cannot_flag_from_the_page(self, client, sales_rep):
        customer = lead_in_stage("customer")
        client.force_login(sales_rep)
        # A customer is not in a rep's view (not in the queue, not theirs): it does not exist for them.
        response = client.post(reverse("service-flag", args=[customer.pk]), {"wants": "x", "consent": "1"})
        assert response.status_code == 404
        assert Handoff.objects.filter(lead=customer, status=HandoffStatus.OPEN).count() == 0


@pytest.mark.django_db
def test_a_flag_made_through_a_plain_transition_is_followed_too(service_client, service_rep):
    customer = lead_in_stage("customer", email="api@x.example")
    lead_transition(lead_id=customer.pk, to_stage="service_qualified", actor=service_rep, reason="Wants SSO (API)")

    [flag] = service_client.get(reverse("service-flags")).context["flags"]

    assert (flag.lead.email, flag.wants, flag.outcome[1]) == (
        "api@x.example",
        "Wants SSO (API)",
        "Waiting in the sales queue",
    )


@pytest.mark.django_db
def test_the_flags_page_query_count_does_not_grow(service_client, service_rep):
    upgrade_flag(lead_id=lead_in_stage("customer").pk, user=service_rep, wants="x", urgency="low", consent=True)
    with CaptureQueriesContext(connection) as few:
        service_client.get(reverse("service-flags"))
    for _ in range(5):
        upgrade_flag(lead_id=lead_in_stage("customer").pk, user=service_rep, wants="y", urgency="high", consent=True)
    with CaptureQueriesContext(connection) as many:
        response = service_client.get(reverse("service-flags"))
    assert len(response.context["flags"]) == 6
    assert len(many) == len(few)


@pytest.mark.django_db
class TestTheFlaggerHearsBack:
    def test_when_sales_closes_the_upgrade(self, service_rep, sales_rep):
        customer = lead_in_stage("customer", first_name="Ada", last_name="King")
        upgrade_flag(lead_id=customer.pk, user=service_rep, wants="SSO", urgency="high", consent=True)
        lead_claim(lead_id=customer.pk, user=sales_rep)

        lead_close_won(lead_id=customer.pk, user=sales_rep, reason="Enterprise, 2 years")

        [note] = Notification.objects.filter(recipient=service_rep)
        assert note.text == "The upgrade of Ada King you flagged is closed: Enterprise, 2 years"

    def test_when_sales_turns_it_down(self, service_rep, sales_rep):
        customer = lead_in_stage("customer", first_name="Ada", last_name="King")
        upgrade_flag(lead_id=customer.pk, user=service_rep, wants="SSO", urgency="high", consent=True)

        handoff_reject(lead_id=customer.pk, user=sales_rep, outcome=RejectOutcome.RECYCLE, reason="On the top plan")

        [note] = Notification.objects.filter(recipient=service_rep)
        assert note.text == "Sales turned down the upgrade of Ada King: On the top plan"


@pytest.mark.django_db
class TestConsent:
    """Sales contacts a customer about an upgrade only when the customer agreed: the flag records it."""

    def test_without_consent_nothing_is_flagged(self, service_rep):
        customer = lead_in_stage("customer")
        before = (StageChange.objects.count(), Handoff.objects.count())

        with pytest.raises(ConsentRequired, match="Ask the customer first"):
            upgrade_flag(lead_id=customer.pk, user=service_rep, wants="SSO", urgency="high", consent=False)

        customer.refresh_from_db()
        assert customer.stage == "customer"
        assert (StageChange.objects.count(), Handoff.objects.count()) == before
        assert not UpgradeFlag.objects.exists()

    def test_the_page_refuses_a_flag_without_the_box_ticked_with_a_400(self, service_client):
        customer = lead_in_stage("customer")
        response = service_client.post(
            reverse("service-flag", args=[customer.pk]), {"wants": "More", "urgency": "high"}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 400
        assert "Ask the customer first" in response.content.decode()
        assert not UpgradeFlag.objects.exists()

    def test_consent_is_stored_and_shown_on_the_handoff_the_timeline_and_my_flags(
        self, service_client, client, sales_rep
    ):
        customer = lead_in_stage("customer", email="c@globex.example")
        service_client.post(
            reverse("service-flag", args=[customer.pk]), {"wants": "Enterprise", "urgency": "high", "consent": "1"}
        )

        flag = UpgradeFlag.objects.get()
        assert flag.contact_consent is True
        assert "The customer agreed to be contacted by sales." in flag.handoff.reason
        flags_page = service_client.get(reverse("service-flags")).content.decode()
        assert "✓ Agreed to be contacted by sales" in flags_page
        client.force_login(sales_rep)
        lead_page = client.get(reverse("lead-detail", args=[customer.pk])).content.decode()
        assert "The customer agreed to be contacted by sales." in lead_page

    def test_a_flag_without_a_consent_record_says_so(self, service_client, service_rep):
        # A plain API transition (no flag row), or a flag made before consent was recorded.
        lead_transition(
            lead_id=lead_in_stage("customer").pk, to_stage="service_qualified", actor=service_rep, reason="More"
        )
        assert "Consent not recorded" in service_client.get(reverse("service-flags")).content.decode()
