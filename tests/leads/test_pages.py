"""The browser pages of the foundation: login, logout, the pipeline home, role navigation, search."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from leads import navigation
from leads.models import Handoff, HandoffStatus, Lead, StageChange
from leads.navigation import NavItem
from leads.roles import Role
from leads.services import lead_claim, lead_transition
from leads.stages import Stage
from tests.factories import LeadFactory, UserFactory, lead_in_stage

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password


def move(lead: Lead, *stages: str, actor=None) -> Lead:
    for stage in stages:
        lead_transition(lead_id=lead.pk, to_stage=stage, actor=actor, actor_label="test", reason="test")
    return lead


# ---- Login and logout ----------------------------------------------------------------------


def test_login_page_offers_username_password_and_a_show_toggle(client, db):
    response = client.get(reverse("login"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    assert "data-toggle-password" in html


def test_it_logs_in_and_lands_on_the_pipeline(client, marketer):
    response = client.post(reverse("login"), {"username": "marketer", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.get(reverse("home")).status_code == 200


def test_it_rejects_a_wrong_password_with_one_clear_message(client, marketer):
    response = client.post(reverse("login"), {"username": "marketer", "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('data-testid="login-error"') == 1
    assert "Please enter a correct username and password" in html
    assert "_auth_user_id" not in client.session


def test_it_goes_back_to_the_page_asked_for_after_login(client, marketer):
    target = reverse("search") + "?q=acme"
    response = client.get(target)
    assert response.status_code == 302
    login_page = client.get(response.url)
    assert f'name="next" value="{target}"' in login_page.content.decode()
    response = client.post(response.url, {"username": "marketer", "password": PASSWORD, "next": target})
    assert response.url == target


def test_it_refuses_to_send_you_to_another_site_after_login(client, marketer):
    response = client.post(
        reverse("login"), {"username": "marketer", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response.url == reverse("home")


def test_logout_ends_the_session(client, marketer):
    client.force_login(marketer)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response.url == reverse("login")
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize("url_name", ["home", "search"])
def test_pages_require_login(client, db, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={url}"


# ---- Layout and navigation -----------------------------------------------------------------


def test_layout_has_search_notifications_user_menu_and_htmx_csrf(client, marketer):
    client.force_login(marketer)
    html = client.get(reverse("home")).content.decode()
    assert 'role="search"' in html
    assert 'id="notifications"' in html
    assert 'data-testid="user-role">Role: Marketing' in html
    assert f'action="{reverse("logout")}"' in html
    assert "vendor/htmx/htmx.min.js" in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


@pytest.mark.parametrize(
    ("fixture", "sees_admin"),
    [("marketer", False), ("sales_rep", False), ("service_rep", False), ("admin_user", True)],
)
def test_each_role_sees_its_navigation(client, db, request, fixture, sees_admin):
    client.force_login(request.getfixturevalue(fixture))
    labels = [item["label"] for item in client.get(reverse("home")).context["nav_items"]]
    assert labels[0] == "Pipeline"
    assert ("Django admin" in labels) is sees_admin


@pytest.fixture
def role_nav(monkeypatch):
    """A navigation with one page per workspace, so the role filter is tested whatever pages exist."""
    items = [
        NavItem("Pipeline", "home"),
        NavItem("Marketing page", "search", (Role.MARKETING,), "Marketing"),
        NavItem("Sales page", "search", (Role.SALES,), "Sales"),
        NavItem("Service page", "search", (Role.SERVICE,), "Service"),
        NavItem("Not built yet", "no-such-page", (Role.SALES,)),
    ]
    monkeypatch.setattr(navigation, "NAV_ITEMS", items)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("marketer", ["Pipeline", "Marketing page"]),
        ("sales_rep", ["Pipeline", "Sales page"]),
        ("service_rep", ["Pipeline", "Service page"]),
        ("admin_user", ["Pipeline", "Marketing page", "Sales page", "Service page"]),
    ],
)
def test_a_role_sees_its_workspace_items_and_not_the_others(db, request, role_nav, fixture, expected):
    user = request.getfixturevalue(fixture)
    assert [item["label"] for item in navigation.navigation_for(user, "/")] == expected


def test_the_current_page_is_marked_in_the_navigation(client, marketer):
    client.force_login(marketer)
    html = client.get(reverse("home")).content.decode()
    assert f'<a href="{reverse("home")}" aria-current="page">Pipeline</a>' in html


# ---- Pipeline home -------------------------------------------------------------------------


@pytest.fixture
def pipeline(db, sales_rep):
    """2 leads, 3 MQL, 1 SQL in the queue, 1 SQL claimed, 1 PQL, 1 customer, 2 disqualified."""
    for _ in range(2):
        LeadFactory()
    for _ in range(3):
        move(LeadFactory(), "mql")
    move(LeadFactory(), "mql", "sql")
    claimed = move(LeadFactory(), "sql")
    lead_claim(lead_id=claimed.pk, user=sales_rep)
    move(LeadFactory(), "pql")
    won = move(LeadFactory(), "sql")
    lead_claim(lead_id=won.pk, user=sales_rep)
    move(won, "customer", actor=sales_rep)
    for _ in range(2):
        move(LeadFactory(), "disqualified")
    return {"lead": 2, "mql": 3, "sql": 2, "pql": 1, "service_qualified": 0, "customer": 1, "disqualified": 2}


def stage_counts_on_page(html: str) -> dict[str, int]:
    import re

    rows = re.findall(r'data-stage="(\w+)">.*?data-count="(\d+)"', html, re.S)
    return {stage: int(count) for stage, count in rows}


def test_pipeline_shows_the_count_of_every_stage(client, marketer, pipeline):
    client.force_login(marketer)
    html = client.get(reverse("home")).content.decode()
    assert stage_counts_on_page(html) == pipeline


def test_pipeline_lists_recent_stage_changes_newest_first(client, marketer, pipeline):
    client.force_login(marketer)
    response = client.get(reverse("home"))
    changes = list(response.context["recent_changes"])
    assert len(changes) == min(15, StageChange.objects.count())
    assert changes[0] == StageChange.objects.order_by("-created_at", "-id").first()
    html = response.content.decode()
    assert 'class="reltime"' in html and 'title="20' in html  # relative time, exact time on hover


def tiles_on(response) -> dict:
    return {tile.key: tile for tile in response.context["tiles"]}


def test_marketing_tiles_count_from_the_audit_rows(client, marketer, pipeline):
    client.force_login(marketer)
    tiles = tiles_on(client.get(reverse("home")))
    assert set(tiles) == {"new_mqls", "mql_sql_rate", "first_touch", "open_handoffs", "sla_breaches"}
    assert tiles["new_mqls"].value == 4  # three MQLs and the one since handed to sales
    assert tiles["new_mqls"].previous == 0
    assert tiles["mql_sql_rate"].value == 25.0  # one of the four
    assert tiles["open_handoffs"].value == Handoff.objects.filter(status=HandoffStatus.OPEN).count() == 2


def test_marketing_counts_only_this_period_against_the_previous(client, marketer, db):
    old = move(LeadFactory(), "mql")
    StageChange.objects.filter(lead=old).update(created_at=timezone.now() - timedelta(days=40))
    move(LeadFactory(), "mql")
    client.force_login(marketer)
    tiles = tiles_on(client.get(reverse("home")))
    assert (tiles["new_mqls"].value, tiles["new_mqls"].previous, tiles["new_mqls"].delta) == (1, 1, 0)


def test_sla_breaches_count_late_claims_and_overdue_open_handoffs(client, marketer, sales_rep, db):
    now = timezone.now()
    late = move(LeadFactory(), "sql")
    lead_claim(lead_id=late.pk, user=sales_rep)
    Handoff.objects.filter(lead=late).update(due_at=now - timedelta(hours=5))  # claimed after its deadline
    overdue = move(LeadFactory(), "sql")
    Handoff.objects.filter(lead=overdue).update(due_at=now - timedelta(hours=1))
    on_time = move(LeadFactory(), "sql")
    Handoff.objects.filter(lead=on_time).update(due_at=now + timedelta(hours=3))
    client.force_login(marketer)
    assert tiles_on(client.get(reverse("home")))["sla_breaches"].value == 2


def test_sales_rep_sees_sales_tiles(client, sales_rep, pipeline):
    client.force_login(sales_rep)
    response = client.get(reverse("home"))
    tiles = tiles_on(response)
    assert set(tiles) == {"my_open", "queue", "due_today", "overdue", "my_won"}
    assert tiles["my_open"].value == 1
    assert tiles["queue"].value == 2
    assert tiles["my_won"].value == 1
    assert 'data-tiles="sales"' in response.content.decode()


def test_service_rep_sees_service_tiles(client, service_rep, pipeline):
    client.force_login(service_rep)
    tiles = tiles_on(client.get(reverse("home")))
    assert set(tiles) == {"customers", "my_flags", "open_flags", "upgrades_won"}
    assert tiles["customers"].value == 1


def test_empty_pipeline_explains_how_to_get_leads(client, marketer):
    client.force_login(marketer)
    html = client.get(reverse("home")).content.decode()
    assert "No leads yet" in html
    assert "seed_demo" in html


@pytest.mark.parametrize("fixture", ["marketer", "sales_rep", "service_rep"])
def test_pipeline_query_count_does_not_grow_with_the_data(client, db, request, fixture, sales_rep):
    user = request.getfixturevalue(fixture)
    client.force_login(user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("home")).status_code == 200
        return len(captured)

    move(LeadFactory(), "mql", "sql")
    few = queries()
    for _ in range(12):
        lead = move(LeadFactory(), "mql", "sql")
        lead_claim(lead_id=lead.pk, user=sales_rep)
        move(lead, "customer", actor=sales_rep)
    assert queries() == few


def test_pipeline_stays_within_its_query_budget(client, marketer, pipeline, django_assert_max_num_queries):
    client.force_login(marketer)
    # session, user, roles, the layout's notifications, the tiles (a few each), counts, queue, changes
    with django_assert_max_num_queries(20):
        client.get(reverse("home"))


# ---- Search --------------------------------------------------------------------------------


def test_search_finds_leads_by_name_email_or_company(client, marketer, db):
    LeadFactory(first_name="Ada", last_name="Lovelace", company="Analytical Engines", email="ada@engines.example")
    LeadFactory(first_name="Grace", last_name="Hopper", company="Navy", email="grace@navy.example")
    client.force_login(marketer)
    for query in ["lovelace", "ENGINES", "ada@", "ada analytical"]:
        results = client.get(reverse("search"), {"q": query}).context["results"]
        assert [lead.last_name for lead in results] == ["Lovelace"], query


def test_search_without_a_match_offers_to_clear_it(client, marketer, db):
    client.force_login(marketer)
    html = client.get(reverse("search"), {"q": "nobody"}).content.decode()
    assert "No lead matches" in html
    assert "empty-nomatch" in html


def test_search_query_count_is_constant(client, marketer, db, django_assert_max_num_queries):
    owner = UserFactory(roles=["sales"])
    for _ in range(30):
        LeadFactory(company="Acme", owner=owner)
    client.force_login(marketer)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("search"), {"q": "acme"})
    assert len(response.context["results"]) == 25
    assert response.context["results"][0].stage == Stage.LEAD


@pytest.mark.parametrize(
    ("seconds_ago", "text"),
    [(10, "just now"), (200, "3 minutes ago"), (4000, "1 hour ago"), (90000, "1 day ago"), (-7200, "in 2 hours")],
)
def test_relative_times_read_in_one_unit(seconds_ago, text):
    from leads.templatetags.ui import relative

    now = timezone.now()
    assert relative(now - timedelta(seconds=seconds_ago), now).replace("\xa0", " ") == text


@pytest.mark.parametrize(("label", "shown"), [("scoring", "Scoring"), ("api:website", "API (website)"), ("", "System")])
def test_automatic_actors_read_as_words(label, shown):
    from leads.templatetags.ui import system_actor

    assert system_actor(label) == shown


def test_queue_card_counts_open_handoffs_by_kind_and_links_sales_to_the_queue(client, sales_rep, marketer, pipeline):
    client.force_login(sales_rep)
    response = client.get(reverse("home"))
    ages = response.context["handoff_ages"]
    assert ages["total"] == sum(row["count"] for row in ages["rows"]) == 2
    assert {kind["label"]: kind["count"] for kind in ages["kinds"]}["Marketing → Sales"] == 1
    assert "Open the sales queue" in response.content.decode()
    client.force_login(marketer)
    assert "Open the sales queue" not in client.get(reverse("home")).content.decode()


def test_too_many_wrong_passwords_pause_logins_with_a_clear_page(client, marketer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": "marketer", "password": "nope"})
    response = client.post(reverse("login"), {"username": "marketer", "password": PASSWORD})
    assert response.status_code == 429
    html = response.content.decode()
    assert 'data-testid="login-locked"' in html
    assert "logging in is paused for 15 minutes" in html


def test_the_pipeline_flags_an_unsubscribed_lead_among_recent_moves(client, marketer):
    lead_in_stage("mql", unsubscribed=True, first_name="Una")
    client.force_login(marketer)
    html = client.get(reverse("home")).content.decode()
    assert "Una" in html
    assert ">Unsubscribed</span>" in html


def test_an_unknown_page_is_the_products_404_with_a_way_home(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "We could not find that page" in content and 'href="/"' in content


def test_a_server_error_is_the_products_500_page(db, settings):
    """Django renders 500.html with no context: it must stand on its own."""
    from django.template.loader import render_to_string

    content = render_to_string("500.html")
    assert "Something went wrong on our side" in content and 'href="/"' in content


def test_opening_an_actions_address_shows_a_page_not_a_blank_405(client, db):
    client.force_login(UserFactory(roles=["marketing"]))
    response = client.get(reverse("mql-bulk"))
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert "This address is an action, not a page" in response.content.decode()
