"""An admin answers a person's requests in a real browser: a copy of their data, then erasure."""

import json

from django.utils import timezone

from leads import ingest
from leads.models import Erasure, Lead
from tests.factories import EngagementEventFactory


def test_admin_exports_then_erases_a_person(page, live_server, demo_data, login, shot, tmp_path):
    result = ingest.submission_ingest(
        form_name="demo-request", email="grace.hopper@navy.example",
        fields={"first_name": "Grace", "last_name": "Hopper", "company": "US Navy"}, consent=True,
        page_url="https://example.com/demo", submitted_at=timezone.now(), payload={"message": "Call me"},
    )  # fmt: skip
    EngagementEventFactory(lead_id=result.lead_id, event_type="unsubscribe")
    Lead.objects.filter(pk=result.lead_id).update(unsubscribed=True)

    login(page, "admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy").click()
    page.wait_for_url(f"{live_server.url}/privacy/")
    page.get_by_label("Email, name or company").fill("Grace.Hopper@navy.example")
    page.get_by_role("button", name="Find").click()
    results = page.locator("[data-testid=privacy-results]")
    assert "Unsubscribed" in results.inner_text()
    shot(page, "1-found")

    results.get_by_role("link", name="Export or erase").click()
    page.wait_for_url(f"{live_server.url}/privacy/leads/{result.lead_id}/")
    shot(page, "2-person")
    with page.expect_download() as download_info:
        page.get_by_test_id("privacy-export").click()
    download = download_info.value
    assert download.suggested_filename == f"lead-{result.lead_id}-export.json"
    exported = json.loads((download.path()).read_text())
    assert exported["profile"]["email"] == "grace.hopper@navy.example"
    assert exported["submissions"][0]["payload"] == {"message": "Call me"}

    page.get_by_role("link", name="Erase this person…").click()
    page.wait_for_url(f"{live_server.url}/privacy/leads/{result.lead_id}/erase/")
    deleted = page.get_by_test_id("erase-deleted").inner_text()
    assert "1 form submission" in deleted and "2 engagement events" in deleted
    assert "refused" in page.get_by_test_id("erase-suppression").inner_text()
    page.get_by_label("Reference").fill("DSR-2026-0142")
    shot(page, "3-confirm")
    page.get_by_role("button", name="Erase grace.hopper@navy.example for good").click()

    erasure = Erasure.objects.get()
    page.wait_for_url(f"{live_server.url}/privacy/erasures/{erasure.pk}/")
    record = page.get_by_test_id("erasure-record").inner_text()
    assert "DSR-2026-0142" in record and "Yes" in record  # had unsubscribed
    assert "grace" not in page.locator("main").inner_text().lower()
    shot(page, "4-record")
    assert not Lead.objects.filter(pk=result.lead_id).exists()


def test_a_marketer_sees_no_privacy_page(page, live_server, demo_data, login):
    login(page, "marketer")
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Privacy").count() == 0
    response = page.goto(f"{live_server.url}/privacy/")
    assert response.status == 403
