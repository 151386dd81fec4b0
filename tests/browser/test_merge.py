"""A marketer finds a duplicate and merges it field by field in a real browser."""

from leads.models import EngagementEvent, Handoff, Lead
from leads.services import lead_transition
from tests.factories import EngagementEventFactory, LeadFactory


def test_marketer_merges_a_duplicate_field_by_field(page, live_server, demo_data, login, shot):
    keep = LeadFactory(
        email="ada@engines.example", first_name="Ada", last_name="Lovelace", company="Engines", phone="", job_title=""
    )
    dupe = LeadFactory(
        email="countess@engines.example", first_name="Ada", last_name="Lovelace", company="Analytical Engines",
        phone="+44 20 7946 0000", job_title="Countess", unsubscribed=True,
    )  # fmt: skip
    EngagementEventFactory(lead=dupe, event_type="pricing_page_view")
    lead_transition(lead_id=dupe.pk, to_stage="sql", actor_label="marketing", reason="contact sales")

    login(page, "marketer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Duplicates").click()
    page.wait_for_url(f"{live_server.url}/marketing/duplicates/")
    table = page.locator("[data-testid=duplicates-table]")
    assert "Same name and email domain" in table.inner_text()
    # The unsubscribed one is flagged on its side of the pair, and on the compare page.
    assert table.locator("td", has_text="countess@engines.example").get_by_text("Unsubscribed").is_visible()
    assert table.locator("td", has_text="ada@engines.example").get_by_text("Unsubscribed").count() == 0
    shot(page, "1-duplicates")
    row = table.locator("tr", has_text="countess@engines.example")
    row.get_by_role("link", name="Compare and merge").click()
    page.wait_for_url(f"{live_server.url}/marketing/duplicates/*/*/")
    assert page.locator("label", has_text=f"#{dupe.pk} ").get_by_text("Unsubscribed").is_visible()
    page.locator(f"input[name=survivor][value='{keep.pk}']").check()
    page.locator(f"tr[data-field=company] input[value='{dupe.pk}']").check()
    # Empty on the lead that stays: the other's value is preselected.
    assert page.locator(f"tr[data-field=phone] input[value='{dupe.pk}']").is_checked()
    shot(page, "2-compare")
    page.get_by_role("button", name="Merge into the lead that stays").click()
    page.wait_for_url(f"{live_server.url}/leads/{keep.pk}/")
    assert f"Merged lead #{dupe.pk} into this lead" in page.content()
    shot(page, "3-merged")

    lead = Lead.objects.get(pk=keep.pk)
    assert not Lead.objects.filter(pk=dupe.pk).exists()
    assert (lead.company, lead.phone, lead.email) == ("Analytical Engines", "+44 20 7946 0000", "ada@engines.example")
    assert lead.unsubscribed  # an unsubscribe is kept by the merge
    # The lead that stays is not in a sales stage: the moved handoff is cancelled, not left in the queue.
    assert list(Handoff.objects.filter(lead=lead).values_list("status", flat=True)) == ["cancelled"]
    assert EngagementEvent.objects.filter(lead=lead, event_type="lead_merged").exists()
