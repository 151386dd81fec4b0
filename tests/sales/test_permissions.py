"""Who may open the workspaces' pages and take their actions: every role against every door."""

import pytest
from django.urls import reverse

from leads.models import Handoff, HandoffStatus
from leads.services import lead_claim
from tests.factories import UserFactory, lead_in_stage
from tests.sales.conftest import HTMX

ROLES = ["anonymous", "marketing", "sales", "other_sales", "service", "admin"]


@pytest.fixture
def people(db):
    return {
        "marketing": UserFactory(username="m", roles=["marketing"]),
        "sales": UserFactory(username="s1", roles=["sales"]),
        "other_sales": UserFactory(username="s2", roles=["sales"]),
        "service": UserFactory(username="sv", roles=["service"]),
        "admin": UserFactory(username="a", roles=["admin"], is_staff=True, is_superuser=True),
    }


def as_role(client, people, role):
    if role != "anonymous":
        client.force_login(people[role])
    return client


PAGES = {
    "sales-queue": {"anonymous": 302, "marketing": 403, "sales": 200, "other_sales": 200, "service": 403, "admin": 200},
    "sales-my-leads": {
        "anonymous": 302,
        "marketing": 403,
        "sales": 200,
        "other_sales": 200,
        "service": 403,
        "admin": 200,
    },
    "service-search": {
        "anonymous": 302,
        "marketing": 403,
        "sales": 403,
        "other_sales": 403,
        "service": 200,
        "admin": 200,
    },
    "service-flags": {
        "anonymous": 302,
        "marketing": 403,
        "sales": 403,
        "other_sales": 403,
        "service": 200,
        "admin": 200,
    },
    "service-pqls": {
        "anonymous": 302,
        "marketing": 403,
        "sales": 403,
        "other_sales": 403,
        "service": 200,
        "admin": 200,
    },
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("role", ROLES)
def test_pages(client, people, name, role):
    assert as_role(client, people, role).get(reverse(name)).status_code == PAGES[name][role]


# Actions on a lead that "sales" owns (claim: on a queue lead; flag: on a customer). 302 is done
# (a redirect back), 403 a refusal with the reason, 404 a lead this person cannot see.
ACTIONS = {
    "claim": {"marketing": 403, "sales": 200, "other_sales": 200, "service": 403, "admin": 200},
    "close": {"marketing": 403, "sales": 204, "other_sales": 404, "service": 403, "admin": 204},
    "release": {"marketing": 403, "sales": 204, "other_sales": 404, "service": 403, "admin": 204},
    "reject": {"marketing": 403, "sales": 204, "other_sales": 404, "service": 403, "admin": 204},
    "next-step": {"marketing": 403, "sales": 204, "other_sales": 404, "service": 403, "admin": 204},
    "flag": {"marketing": 403, "sales": 404, "other_sales": 404, "service": 204, "admin": 204},
}


def action_request(action: str, people):
    if action == "claim":
        lead = lead_in_stage("sql")
        handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
        return lead, reverse("sales-claim", args=[handoff.pk]), {}
    if action == "flag":
        lead = lead_in_stage("customer")
        return lead, reverse("service-flag", args=[lead.pk]), {"wants": "More seats", "consent": "1"}
    lead = lead_in_stage("sql")
    lead_claim(lead_id=lead.pk, user=people["sales"])
    data = {
        "close": {"reason": "Won: 10 seats"},
        "release": {},
        "reject": {"outcome": "recycle", "reason": "Too early"},
        "next-step": {"text": "Call", "due": "2030-01-01"},
    }[action]
    return lead, reverse(f"sales-{action}", args=[lead.pk]), data


@pytest.mark.django_db
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_actions(client, people, action, role):
    lead, url, data = action_request(action, people)
    lead.refresh_from_db()
    before = (lead.stage, lead.owner_id)

    response = as_role(client, people, role).post(url, data, **HTMX)

    assert response.status_code == ACTIONS[action][role], response.content[:300]
    lead.refresh_from_db()
    if response.status_code in (403, 404):
        assert (lead.stage, lead.owner_id) == before  # a refusal changes nothing
    if response.status_code == 403:
        assert 'data-testid="refusal"' in response.content.decode()


@pytest.mark.django_db
def test_anonymous_actions_go_to_log_in(client, people):
    for action in ACTIONS:
        _, url, data = action_request(action, people)
        response = client.post(url, data)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
