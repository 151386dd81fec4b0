"""Background bulk jobs in a real browser: the MQL list's banner and the job page, at laptop and phone widths.

Screenshots land in artifacts/screenshots/test_bulk_jobs-*.png names (see conftest.py).
"""

import re
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from leads.models import BulkMoveJob

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_the_list_shows_a_running_job_and_its_page_says_what_it_does(page, live_server, demo_data, login, shot):
    marketer = get_user_model().objects.get(username="marketer")
    running = BulkMoveJob.objects.create(
        created_by=marketer,
        action="handoff",
        to_stage="sql",
        query="score_min=60&country=DE",
        status="running",
        total=12345,
        done=4938,
        moved=4900,
        skipped={"Already SQL.": 38},
        lease_until=timezone.now() + timedelta(minutes=5),
    )
    login(page, "marketer")
    for width, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(f"{live_server.url}/marketing/mqls/")
        banner = page.locator("[data-testid=bulk-job-banner]")
        assert banner.inner_text().strip() == "Handing off 12,345 leads: 40% — view progress"
        assert fits(page)
        shot(page, f"banner-{width}")

    page.set_viewport_size(LAPTOP)
    page.locator("[data-testid=bulk-job-banner]").get_by_role("link", name="view progress").click()
    page.wait_for_url(f"{live_server.url}/marketing/mqls/bulk/{running.pk}/")
    assert page.locator("[data-testid=bulk-job-filters]").inner_text().startswith("Stage: MQL, Score ≥ 60, Country: DE")
    assert page.locator("[data-testid=bulk-job-starter]").inner_text() == "Maya Fischer"
    assert "Working… 4,938 of 12,345 leads" in page.locator("[data-testid=bulk-job]").inner_text()
    shot(page, "job-running-laptop")

    # The worker finishes (as it would, with skips and a failure): the polling page shows the result.
    BulkMoveJob.objects.filter(pk=running.pk).update(
        status="done",
        done=12345,
        moved=12000,
        skipped={"Already SQL.": 300, "This lead belongs to another rep: only its owner or an admin can move it.": 44},
        failed={"OperationalError: the database connection was lost": 1},
        finished_at=timezone.now(),
        lease_until=None,
    )
    page.wait_for_selector("[data-testid=bulk-job][data-status=done]")
    rows = page.locator("[data-testid=bulk-job-reasons] tbody tr")
    assert rows.count() == 3
    assert re.search(r"Already SQL\.\s+Skipped\s+300", rows.nth(0).inner_text())
    assert "12,000 moved, 344 skipped" in page.locator("[data-testid=bulk-job-summary]").inner_text()
    shot(page, "job-done-laptop")
    page.set_viewport_size(PHONE)
    assert fits(page)
    shot(page, "job-done-phone")

    # Back to the list with the job's filters; the banner is gone now that the job is done.
    page.set_viewport_size(LAPTOP)
    page.get_by_test_id("bulk-job-list-link").click()
    page.wait_for_url(f"{live_server.url}/marketing/mqls/?score_min=60&country=DE")
    assert page.locator("[data-testid=bulk-job-banner]").count() == 0
    assert page.locator("[data-testid=chips] .chip").count() == 2


def test_an_unknown_job_is_a_404_page_with_the_way_back(page, live_server, demo_data, login, shot):
    login(page, "marketer")
    page.set_viewport_size(PHONE)
    response = page.goto(f"{live_server.url}/marketing/mqls/bulk/424242/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "No such bulk action"
    assert fits(page)
    shot(page, "missing-phone")
    page.get_by_role("link", name="Go to the MQL list").click()
    page.wait_for_url(f"{live_server.url}/marketing/mqls/")


def test_a_failed_job_says_it_stopped_and_what_to_do(page, live_server, demo_data, login, shot):
    marketer = get_user_model().objects.get(username="marketer")
    failed = BulkMoveJob.objects.create(
        created_by=marketer,
        action="handoff",
        to_stage="sql",
        query="score_min=60",
        status="failed",
        total=2400,
        done=800,
        moved=790,
        skipped={"Already SQL.": 10},
        failures=5,
        last_error="ValueError: no such filter",
        finished_at=timezone.now(),
    )
    login(page, "marketer")
    for width, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(f"{live_server.url}/marketing/mqls/bulk/{failed.pk}/")
        job = page.locator("[data-testid=bulk-job]")
        assert "Stopped: 800 of 2,400 leads handled." in job.inner_text()
        assert "The leads it moved stay moved" in page.locator("[data-testid=bulk-job-failed]").inner_text()
        assert "no such filter" not in job.inner_text()
        assert fits(page)
        shot(page, f"job-failed-{width}")
