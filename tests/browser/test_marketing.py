"""A marketer's day in a real browser: the MQL list, a lead's score, bulk handoff, export, scoring rules.

Screenshots of every page land in artifacts/screenshots/ (see conftest.py).
"""

import csv
import io
import re

from leads.models import Handoff, Lead, StageChange
from scoring.models import RescoreJob, RuleSet, RuleSetStatus


def open_mql_list(page, live_server):
    page.goto(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="MQLs").click()
    page.wait_for_url(f"{live_server.url}/marketing/mqls/")


def test_marketer_reviews_mqls_hands_two_to_sales_exports_and_changes_the_rules(
    page, live_server, demo_data, login, shot
):
    login(page, "marketer")
    open_mql_list(page, live_server)
    assert page.locator("h1").inner_text() == "MQLs"
    assert page.locator("[data-testid=view-tabs] [aria-current=page]").inner_text() == "All MQLs"
    mqls = list(Lead.objects.filter(stage="mql").order_by("-score", "-id"))
    assert len(mqls) >= 3, "the demo data has MQLs to review"
    shot(page, "1-mql-list")

    # Filter: score at least the third best, through the filter form; the filter becomes a chip.
    floor = mqls[2].score
    page.locator(".filters-summary").click()
    page.fill("#id_score_min", str(floor))
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(f"{live_server.url}/marketing/mqls/?score_min={floor}")  # the short URL to share
    chip = page.locator("[data-testid=chips] .chip")
    assert chip.count() == 1
    assert f"Score at least: {floor}" in chip.inner_text()
    expected = [lead.pk for lead in mqls if lead.score >= floor]
    shown = [
        int(v)
        for v in page.locator("[data-testid=mql-table] tbody tr").evaluate_all("rows => rows.map(r => r.dataset.lead)")
    ]
    assert shown == expected
    shot(page, "2-mql-filtered")
    filtered_url = page.url

    # Open the best lead and read why it scored what it did.
    best = mqls[0]
    page.locator(f"tr[data-lead='{best.pk}'] .cell-lead a").click()
    page.wait_for_url(f"{live_server.url}/leads/{best.pk}/?list=score_min%3D{floor}")
    assert page.locator("[data-testid=score-total]").inner_text() == str(best.score)
    page.get_by_text("Why this score").click()
    breakdown = page.locator("[data-testid=why-score] table")
    assert breakdown.is_visible()
    for item in best.score_breakdown:
        assert item["rule"] in breakdown.inner_text()
    assert f"v{best.score_ruleset_version}" in page.locator("[data-testid=score-card]").inner_text()
    assert page.locator("[data-testid=timeline] li").count() > 0
    shot(page, "3-lead-detail")
    # Next and previous walk the filtered list without going back to it.
    page.locator("[data-testid=next-lead]").click()
    page.wait_for_url(re.compile(rf".*/leads/{expected[1]}/\?list=.*"))
    assert page.locator("[data-testid=previous-lead]").is_visible()

    # Back to the filtered list; hand the first two to sales in one go.
    page.get_by_role("link", name="← Back to the list").click()
    page.wait_for_url(filtered_url)
    first, second = expected[0], expected[1]
    assert not page.locator("[data-testid=bulkbar]").is_visible()
    page.locator(f"tr[data-lead='{first}'] input[name=lead]").check()
    page.locator(f"tr[data-lead='{second}'] input[name=lead]").check()
    bar = page.locator("[data-testid=bulkbar]")
    assert bar.is_visible()
    assert bar.locator(".bulkbar-count").inner_text() == "2"
    shot(page, "4-mql-selected")
    bar.get_by_role("button", name="Hand off to sales").click()
    page.wait_for_load_state()
    assert "Hand off to sales: 2 updated, 0 skipped" in page.locator(".messages").inner_text()
    assert set(Lead.objects.filter(pk__in=[first, second]).values_list("stage", flat=True)) == {"sql"}
    assert Handoff.objects.filter(lead_id__in=[first, second], status="open").count() == 2
    assert (
        StageChange.objects.filter(lead_id__in=[first, second], to_stage="sql", actor__username="marketer").count() == 2
    )
    shot(page, "5-bulk-result")

    # Export the filtered list (the two handed off are no longer MQLs).
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    with open(download.path(), encoding="utf-8") as file:
        rows = list(csv.DictReader(io.StringIO(file.read())))
    assert download.suggested_filename == "leads.csv"
    assert sorted(int(row["id"]) for row in rows) == sorted(expected[2:])
    assert {row["stage"] for row in rows} <= {"mql"}

    # Scoring rules: edit a rule in a draft, preview, publish, watch the rescore finish.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scoring rules").click()
    page.wait_for_url(f"{live_server.url}/scoring/")
    shot(page, "6-scoring-published")
    page.locator("[data-testid=start-draft]").click()
    page.wait_for_load_state()
    draft = RuleSet.objects.get(status=RuleSetStatus.DRAFT)
    rule = draft.engagement_rules.get(event_type="webinar_attended")
    row = page.locator(f"[data-testid=engagement-rules] li[data-rule='{rule.pk}']")
    row.locator("summary").click()
    row.locator(f"#id_engagement-{rule.pk}-points").fill(str(rule.points + 15))
    row.get_by_role("button", name="Save rule").click()
    page.wait_for_load_state()
    assert f"Rule “{rule.name}” saved in the draft." in page.locator(".messages").inner_text()
    rule.refresh_from_db()
    assert rule.points == draft.based_on.engagement_rules.get(event_type="webinar_attended").points + 15

    page.locator("[data-testid=run-preview]").click()
    preview = page.locator("[data-testid=preview]")
    preview.wait_for()
    assert preview.locator("svg.chart").count() == 1
    assert preview.locator("[data-testid=preview-stages] tbody tr").count() == 7
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "7-scoring-preview")

    page.locator("[data-testid=publish]").click()
    page.wait_for_load_state()
    progress = page.locator("[data-testid=rescore]")
    progress.wait_for()
    page.wait_for_selector("[data-testid=rescore][data-status=done]", timeout=30_000)
    job = RescoreJob.objects.get(ruleset=draft)
    assert job.status == "done" and job.done == job.total == Lead.objects.count()
    assert f"{job.total} of {job.total} leads" in progress.inner_text()
    draft.refresh_from_db()
    assert draft.status == RuleSetStatus.PUBLISHED
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page draws the top bar mid-page
    shot(page, "8-rescore-done")


def test_the_mql_list_and_a_lead_on_a_phone(phone_page, live_server, demo_data, login, shot):
    top = Lead.objects.filter(stage="mql").order_by("-score", "-id").first()
    Lead.objects.filter(pk=top.pk).update(unsubscribed=True)
    login(phone_page, "marketer")
    phone_page.goto(f"{live_server.url}/marketing/mqls/")
    assert phone_page.locator("[data-testid=mql-table] tbody tr").count() > 0
    assert phone_page.locator(f"tr[data-lead='{top.pk}'] .badge-danger").inner_text() == "Unsubscribed"
    assert phone_page.locator(".badge-danger").count() == 1
    # Nothing wider than the screen but the table's own scroller.
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone_page, "mql-list")
    lead = Lead.objects.filter(stage="mql").order_by("-score").first()
    phone_page.goto(f"{live_server.url}/leads/{lead.pk}/")
    assert phone_page.locator("[data-testid=score-card]").is_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390


def test_keyboard_reaches_the_bulk_actions(page, live_server, demo_data, login):
    login(page, "marketer")
    page.goto(f"{live_server.url}/marketing/mqls/")
    page.locator("tbody input[name=lead]").first.focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # the focus moves on; the bar is there once a row is checked
    assert page.locator("[data-testid=bulkbar]").is_visible()
    handoff = page.locator("[data-testid=bulkbar]").get_by_role("button", name="Hand off to sales")
    handoff.focus()
    assert page.evaluate("document.activeElement.textContent") == "Hand off to sales"


def test_the_rescore_progress_bar_follows_a_running_job(page, live_server, demo_data, login, shot):
    from scoring.services import ruleset_ensure_published

    job = RescoreJob.objects.create(ruleset=ruleset_ensure_published(), reason="manual", total=40, done=10)
    login(page, "marketer")
    page.goto(f"{live_server.url}/scoring/")
    progress = page.locator("[data-testid=rescore]")
    assert progress.get_attribute("data-status") == "running"
    assert "10 of 40 leads" in progress.inner_text()
    shot(page, "running")
    # The worker moves on: htmx polls the fragment every second and the bar follows.
    RescoreJob.objects.filter(pk=job.pk).update(done=30)
    # (A locator, not wait_for_function: its string would be eval'd, which the page's CSP forbids.)
    page.locator("[data-testid=rescore]", has_text="30 of 40 leads").wait_for()
    RescoreJob.objects.filter(pk=job.pk).update(done=40, status="done")
    page.wait_for_selector("[data-testid=rescore][data-status=done]")
    assert "finished" in page.locator("[data-testid=rescore]").inner_text()


LAPTOP = {"width": 1280, "height": 800}


def test_a_web_form_snippet_pasted_on_another_site_sends_a_lead(page, phone_page, live_server, demo_data, login, shot):
    """Marketing makes a web form, copies its HTML; a visitor of another website sends it."""
    from leads.models import Submission

    page.set_viewport_size(LAPTOP)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    login(page, "marketer")
    page.goto(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Forms").click()
    page.wait_for_url(f"{live_server.url}/marketing/forms/")
    page.get_by_label("Form name").fill("contact-us")
    page.get_by_role("button", name="Create web form").click()
    page.wait_for_load_state()
    web_form = page.locator("[data-testid=web-form][data-form=contact-us]")
    assert web_form.is_visible()

    # A thank-you page that is not http(s) is refused beside its field; a good one goes into the snippet.
    thank_you = web_form.get_by_label("Thank-you page")
    thank_you.fill("ftp://www.example.test/thanks")
    thank_you.evaluate("input => input.form.noValidate = true")  # let the server judge it
    web_form.get_by_role("button", name="Update the snippet").click()
    page.wait_for_load_state()
    web_form = page.locator("[data-testid=web-form][data-form=contact-us]")
    assert web_form.locator("[data-testid=thank-you-error]").is_visible()
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page draws the top bar mid-page
    shot(page, "web-form-thank-you-error")
    web_form.get_by_label("Thank-you page").fill(f"{live_server.url}/forms/thanks/?from=site")
    web_form.get_by_role("button", name="Update the snippet").click()
    page.wait_for_load_state()
    web_form = page.locator("[data-testid=web-form][data-form=contact-us]")
    web_form.get_by_role("button", name="Copy").click()
    web_form.get_by_role("button", name="Copied").wait_for()
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert snippet == web_form.locator("[data-testid=snippet]").inner_text()
    assert 'name="form_key"' in snippet and 'name="website"' in snippet
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "forms-page")

    # Another website: the snippet pasted into its page as is.
    site = "http://www.example.test"
    html = f"<!doctype html><title>Contact us</title><h1>Contact us</h1>{snippet}"
    for visitor in (page, phone_page):
        visitor.route(f"{site}/**", lambda route: route.fulfill(body=html, content_type="text/html"))

    page.goto(f"{site}/contact")
    page.get_by_label("Work email").fill("not-an-email")
    page.locator("form").evaluate("form => form.noValidate = true")  # a browser that does not check
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"{live_server.url}/forms/submit/")
    assert "Email" in page.locator("[data-testid=public-form-errors]").inner_text()
    shot(page, "web-form-error")
    assert not Submission.objects.filter(form_name="contact-us").exists()

    phone_page.goto(f"{site}/contact")
    phone_page.get_by_label("Work email").fill("grace@example.org")
    phone_page.get_by_label("First name").fill("Grace")
    phone_page.get_by_label("Company").fill("Navy")
    phone_page.get_by_label("Send me news").check()
    phone_page.get_by_role("button", name="Send").click()
    phone_page.wait_for_url(f"{live_server.url}/forms/thanks/?from=site")
    assert phone_page.locator("h1").inner_text() == "Thank you"
    shot(phone_page, "web-form-thanks")
    lead = Lead.objects.get(email="grace@example.org")
    assert (lead.first_name, lead.company, lead.consent) == ("Grace", "Navy", True)
    assert Submission.objects.get(form_name="contact-us").lead == lead

    login(phone_page, "marketer")
    phone_page.goto(f"{live_server.url}/marketing/forms/")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert "1 submission · 1 new lead" in phone_page.locator("tr[data-form=contact-us]").inner_text()


def test_a_bulk_handoff_of_a_big_filtered_list_runs_in_the_background(
    page, live_server, demo_data, login, shot, settings
):
    """More matching leads than the threshold: a background job, its progress polled on the page."""
    from leads import bulk_jobs
    from leads.models import BulkMoveJob

    settings.BULK_BACKGROUND_THRESHOLD = 2
    page.set_viewport_size(LAPTOP)
    mqls = set(Lead.objects.filter(stage="mql").values_list("pk", flat=True))
    assert len(mqls) > 2
    Lead.objects.filter(pk=min(mqls)).update(unsubscribed=True)
    login(page, "marketer")
    page.goto(f"{live_server.url}/marketing/mqls/")
    assert page.locator(f"tr[data-lead='{min(mqls)}'] .badge-danger").inner_text() == "Unsubscribed"
    page.locator(f"tr[data-lead='{min(mqls)}'] input[name=lead]").check()  # shows the bar
    bar = page.locator("[data-testid=bulkbar]")
    assert "runs in the background" not in bar.inner_text()  # the count is under 1,000 here
    shot(page, "mql-list-laptop")
    bar.get_by_label(re.compile("every lead matching the filters")).check()
    bar.get_by_role("button", name="Hand off to sales").click()
    page.wait_for_url(re.compile(r".*/marketing/mqls/bulk/\d+/$"))
    job = BulkMoveJob.objects.get()
    page.wait_for_selector("[data-testid=bulk-job][data-status=done]")  # no broker here: it ran at once
    assert f"{len(mqls)} moved, 0 skipped, 0 failed" in page.locator("[data-testid=bulk-job-summary]").inner_text()
    assert set(Lead.objects.filter(stage="sql", pk__in=mqls).values_list("pk", flat=True)) == mqls
    shot(page, "bulk-job-done")

    # A queued job: the page polls, and follows the worker to the end.
    second = BulkMoveJob.objects.create(
        created_by=job.created_by, action="recycle", to_stage="mql", reason="not yet", query="stage=sql"
    )
    page.goto(f"{live_server.url}/marketing/mqls/bulk/{second.pk}/")
    assert "Waiting for a worker" in page.locator("[data-testid=bulk-job]").inner_text()
    shot(page, "bulk-job-queued")
    assert bulk_jobs.bulk_move_run(job_id=second.pk)
    page.wait_for_selector("[data-testid=bulk-job][data-status=done]")
    second.refresh_from_db()
    assert second.done == second.total > len(mqls) - 1
    assert bulk_jobs.bulk_move_job_summary(second) in page.locator("[data-testid=bulk-job-summary]").inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "bulk-job-phone")
