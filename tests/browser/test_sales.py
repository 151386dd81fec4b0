"""The sales and service workspaces in a real browser: queue, claim race, upgrade flag, SLA breach."""

from datetime import timedelta

import pytest
from django.utils import timezone

from leads.handoffs import handoff_sla_sweep
from leads.models import Handoff, HandoffStatus, Lead, Note, RoutingRule, SlaPolicy
from tests.factories import UserFactory, lead_in_stage

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's


@pytest.fixture
def people(role_groups, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return {
        "priya": UserFactory(username="priya", first_name="Priya", last_name="Raman", roles=["sales"]),
        "tom": UserFactory(username="tom", first_name="Tom", last_name="Berger", roles=["sales"]),
        "sam": UserFactory(username="sam", first_name="Sam", last_name="Okafor", roles=["service"]),
    }


@pytest.fixture
def second_page(playwright_browser):
    context = playwright_browser.new_context(viewport={"width": 1366, "height": 800}, locale="en-US")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def queue_row(page, email: str):
    return page.locator(f"[data-testid=queue-row][data-lead='{email}']")


def test_a_rep_claims_from_the_queue_adds_a_note_and_closes_as_customer(page, live_server, people, login, shot):
    SlaPolicy.objects.create(kind="marketing_to_sales", hours_to_accept=4)
    lead_in_stage("sql", email="ada@engines.example", first_name="Ada", last_name="Lovelace", company="Engines Ltd")
    lead_in_stage("pql", email="bob@widgets.example", first_name="Bob", last_name="Stone", company="Widgets", score=80)
    login(page, "priya", PASSWORD)

    page.locator("nav.sidenav").get_by_role("link", name="Sales queue").click()
    page.wait_for_url("**/sales/queue/")
    assert page.locator("[data-testid=queue-row]").count() == 2
    # The handoff with an SLA deadline comes first, whatever the other's score.
    assert page.locator("[data-testid=queue-row]").first.get_attribute("data-lead") == "ada@engines.example"
    assert "Due in 3" in queue_row(page, "ada@engines.example").locator("[data-testid=sla]").inner_text()
    shot(page, "queue")

    queue_row(page, "ada@engines.example").get_by_role("button", name="Claim").click()
    claimed = page.locator("[data-testid=queue-row-claimed]")
    assert "is yours now" in claimed.inner_text()
    shot(page, "claimed")
    claimed.get_by_role("link", name="Open lead").click()
    page.wait_for_url("**/leads/*/")

    lead_page = page.url
    shot(page, "lead-page-owner")
    page.select_option("#notes select", "call")
    page.fill("#notes textarea", "Called Ada: wants a demo for 12 seats.")
    page.get_by_role("button", name="Add to timeline").click()
    page.wait_for_load_state()
    assert "wants a demo for 12 seats" in page.locator("#timeline").inner_text()

    # The call is the lead's latest activity in My leads.
    page.locator("nav.sidenav").get_by_role("link", name="My leads").click()
    page.wait_for_url("**/sales/my-leads/")
    row = page.locator("[data-testid=my-lead-row]")
    assert row.count() == 1
    assert row.locator("td[data-label='Last activity']").inner_text() == "just now"
    shot(page, "my-leads")

    # Close from the lead page: the header's action asks for a confirmation, not a reason.
    page.goto(lead_page)
    page.get_by_test_id("primary-action").click()
    dialog = page.get_by_test_id("close-dialog")
    assert dialog.is_visible()
    shot(page, "closing")
    dialog.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible()
    assert Lead.objects.get(email="ada@engines.example").stage == "sql"
    page.get_by_test_id("primary-action").click()
    dialog.get_by_test_id("confirm-close").click()
    page.wait_for_load_state()
    assert "is a customer now" in page.locator("#messages").inner_text()
    shot(page, "closed")

    lead = Lead.objects.get(email="ada@engines.example")
    assert (lead.stage, lead.owner.username) == ("customer", "priya")
    assert Note.objects.filter(lead=lead, kind="call").count() == 1
    assert lead.last_activity_at == Note.objects.get(lead=lead).created_at
    assert lead.stage_changes.first().reason == ""


def test_two_reps_race_for_one_lead_and_the_loser_is_told(page, second_page, live_server, people, login, shot):
    lead_in_stage("sql", email="hot@lead.example", first_name="Hot", last_name="Lead")
    lead_in_stage("sql", email="next@lead.example", first_name="Next", last_name="One")
    login(page, "priya", PASSWORD)
    login(second_page, "tom", PASSWORD)
    for p in (page, second_page):
        p.goto(f"{live_server.url}/sales/queue/")

    queue_row(page, "hot@lead.example").get_by_role("button", name="Claim").click()
    assert "is yours now" in page.locator("[data-testid=queue-row-claimed]").inner_text()
    queue_row(second_page, "hot@lead.example").get_by_role("button", name="Claim").click()

    taken = second_page.locator("[data-testid=queue-row-taken]")
    assert "Already claimed by Priya Raman" in taken.inner_text()
    assert "just now" in taken.inner_text()
    shot(second_page, "loser")
    taken.get_by_role("link", name="Next lead").click()
    second_page.wait_for_url("**/sales/queue/")
    assert [
        second_page.locator("[data-testid=queue-row]").nth(i).get_attribute("data-lead")
        for i in range(second_page.locator("[data-testid=queue-row]").count())
    ] == ["next@lead.example"]
    assert Lead.objects.get(email="hot@lead.example").owner.username == "priya"


def test_a_service_rep_flags_upgrade_interest_that_reaches_the_sales_queue(
    page, second_page, live_server, people, login, shot
):
    lead_in_stage("customer", email="cto@globex.example", first_name="Hank", last_name="Scorpio", company="Globex")
    login(page, "sam", PASSWORD)

    page.locator("nav.sidenav").get_by_role("link", name="Find a customer").click()
    page.fill("#service-q", "globex")
    page.get_by_role("button", name="Find").click()
    row = page.locator("[data-testid=service-row][data-lead='cto@globex.example']")
    row.locator("[data-testid=flag-upgrade]").click()
    row.get_by_label("What do they want?").fill("Enterprise plan for 200 seats")
    row.get_by_label("How urgent?").select_option("high")
    row.get_by_label("Note for sales").fill("Renewal is in May; asked twice.")
    shot(page, "flag-form")
    row.get_by_label("The customer agreed to hear from sales").check()
    row.get_by_role("button", name="Send to sales").click()

    page.wait_for_url("**/service/flags/")
    assert "is in the sales queue now" in page.locator("#messages").inner_text()
    assert page.locator("[data-testid=flag-outcome]").inner_text() == "Waiting in the sales queue"
    assert page.locator("[data-testid=flag-consent]").inner_text() == "✓ Agreed to be contacted by sales"
    shot(page, "flags")

    login(second_page, "tom", PASSWORD)
    second_page.goto(f"{live_server.url}/sales/queue/")
    row = queue_row(second_page, "cto@globex.example")
    assert "Service → Sales" in row.inner_text()
    shot(second_page, "in-sales-queue")
    row.locator("a.cell-main").click()
    second_page.wait_for_url("**/leads/*/")
    assert "The customer agreed to be contacted by sales." in second_page.locator("#timeline").inner_text()
    shot(second_page, "upgrade-lead-page")


def test_an_sla_breach_notifies_the_team_in_the_top_bar(page, live_server, people, login, shot, mailoutbox):
    lead = lead_in_stage("sql", email="late@lead.example", first_name="Late", last_name="Lead")
    Handoff.objects.filter(lead=lead, status=HandoffStatus.OPEN).update(
        opened_at=timezone.now() - timedelta(hours=6), due_at=timezone.now() - timedelta(hours=2)
    )
    assert handoff_sla_sweep() == 1

    login(page, "tom", PASSWORD)
    assert page.locator("[data-testid=notif-count]").inner_text() == "1"
    page.locator("#notifications summary").click()
    item = page.locator("[data-testid=notification]")
    assert "SLA breached: Late Lead" in item.inner_text()
    shot(page, "bell-open")
    item.click()

    page.wait_for_url("**/sales/queue/")
    assert page.locator("[data-testid=notif-count]").count() == 0
    assert "Overdue" in queue_row(page, "late@lead.example").locator("[data-testid=sla]").inner_text()
    assert len(mailoutbox) == 2  # Priya and Tom


def test_the_queue_works_from_the_keyboard(page, live_server, people, login, shot):
    lead_in_stage("sql", email="first@k.example", score=90)
    lead_in_stage("sql", email="second@k.example", score=10)
    login(page, "priya", PASSWORD)
    page.goto(f"{live_server.url}/sales/queue/")

    page.keyboard.press("?")
    assert page.locator("#queue-keys").is_visible()
    shot(page, "keys")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.dataset.lead") == "second@k.example"
    page.keyboard.press("c")

    assert "is yours now" in page.locator("[data-testid=queue-row-claimed]").inner_text()
    assert Lead.objects.get(email="second@k.example").owner.username == "priya"
    assert Lead.objects.get(email="first@k.example").owner is None


def test_a_lead_routing_offered_to_a_colleague_says_whose_turn_it_is(
    page, second_page, live_server, people, login, shot
):
    SlaPolicy.objects.create(kind="marketing_to_sales", hours_to_accept=4)
    RoutingRule.objects.create(name="Tom's accounts").reps.add(people["tom"])
    lead = lead_in_stage("sql", email="turn@lead.example", first_name="Turn", last_name="Taker", unsubscribed=True)
    handoff = Handoff.objects.get(lead=lead, status=HandoffStatus.OPEN)
    until = timezone.localtime(handoff.offered_until).strftime("%H:%M")

    # Priya opens the lead (a link from a colleague): no Claim, but whose turn it is and until when.
    login(page, "priya", PASSWORD)
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    refusal = page.get_by_test_id("claim-refusal")
    assert refusal.inner_text().startswith("Offered to Tom Berger until ")
    assert page.get_by_test_id("primary-action").count() == 0
    assert page.locator(".page-title").get_by_text("Unsubscribed").is_visible()
    shot(page, "lead-page-offered")
    page.goto(f"{live_server.url}/sales/queue/")
    assert queue_row(page, "turn@lead.example").count() == 0

    # Tom sees it as his, with the deadline, and passes it back to the team.
    login(second_page, "tom", PASSWORD)
    second_page.goto(f"{live_server.url}/sales/queue/")
    row = queue_row(second_page, "turn@lead.example")
    assert f"Offered to you until {until}" in row.inner_text()
    assert "Unsubscribed" in row.inner_text()
    shot(second_page, "queue-offered-to-me")
    row.get_by_test_id("pass").click()
    second_page.wait_for_url("**/sales/queue/")
    assert "back in the team's queue" in second_page.locator("#messages").inner_text()

    # Now anyone may claim it.
    page.reload()
    queue_row(page, "turn@lead.example").get_by_role("button", name="Claim").click()
    assert "is yours now" in page.locator("[data-testid=queue-row-claimed]").inner_text()
    assert Lead.objects.get(pk=lead.pk).owner.username == "priya"
