"""An htmx request that fails (the 503 the app answers while its database is down, any 5xx, no answer
at all) is said in the page's message area, once, and can be dismissed; it is never a silent no-op."""

import re

from leads.models import Handoff, HandoffStatus, ImportJob, ImportStatus
from tests.browser.test_csp import csp_violations, watch_console
from tests.browser.test_sales import PASSWORD, people, queue_row  # noqa: F401  (people is a fixture)
from tests.factories import lead_in_stage

UNAVAILABLE_PAGE = "<!doctype html><title>Temporarily unavailable</title><h1>LeadCRM is briefly unavailable</h1>"


def answer(status: int, headers: dict | None = None):
    def handler(route):
        route.fulfill(status=status, headers=headers or {}, content_type="text/html", body=UNAVAILABLE_PAGE)

    return handler


def test_a_claim_answered_503_says_so_and_a_retry_that_works_clears_it(page, live_server, people, login, shot):  # noqa: F811
    problems = watch_console(page)
    lead = lead_in_stage("sql", email="ada@engines.example", first_name="Ada", last_name="Lovelace")
    login(page, "priya", PASSWORD)
    page.goto(f"{live_server.url}/sales/queue/")
    claim_url = re.compile(r".*/sales/queue/\d+/claim/$")
    page.route(claim_url, answer(503, {"Retry-After": "5"}))

    queue_row(page, "ada@engines.example").get_by_role("button", name="Claim").click()
    message = page.locator("#messages [data-testid=request-error]")
    message.wait_for()
    assert message.get_attribute("role") == "alert"
    assert message.inner_text().startswith(
        "LeadCRM is briefly unavailable (error 503): what you just did may not have been saved. Try again in 5 seconds."
    )
    # The row is as it was: the Claim button is still there, and nothing was claimed.
    assert queue_row(page, "ada@engines.example").get_by_role("button", name="Claim").is_visible()
    assert Handoff.objects.get(lead=lead).status == HandoffStatus.OPEN
    shot(page, "503-message")

    # A second failure does not stack a second message.
    queue_row(page, "ada@engines.example").get_by_role("button", name="Claim").click()
    page.wait_for_timeout(300)
    assert page.locator("[data-testid=request-error]").count() == 1

    # The database is back: the retry works and the message goes.
    page.unroute(claim_url)
    queue_row(page, "ada@engines.example").get_by_role("button", name="Claim").click()
    assert "is yours now" in page.locator("[data-testid=queue-row-claimed]").inner_text()
    message.wait_for(state="detached")
    assert csp_violations(problems) == []


def test_no_answer_at_all_says_so_and_the_message_can_be_dismissed(page, live_server, people, login, shot):  # noqa: F811
    lead_in_stage("sql", email="bob@widgets.example", first_name="Bob", last_name="Stone")
    login(page, "priya", PASSWORD)
    page.goto(f"{live_server.url}/sales/queue/")
    page.route(re.compile(r".*/sales/queue/\d+/claim/$"), lambda route: route.abort("connectionrefused"))

    queue_row(page, "bob@widgets.example").get_by_role("button", name="Claim").click()
    message = page.locator("#messages [data-testid=request-error]")
    message.wait_for()
    assert "LeadCRM could not be reached: check your connection." in message.inner_text()
    shot(page, "unreachable")

    dismiss = message.get_by_role("button", name="Dismiss this message")
    dismiss.focus()
    page.keyboard.press("Enter")  # reachable from the keyboard
    message.wait_for(state="detached")
    assert page.locator("#messages").inner_text().strip() == ""


def test_a_progress_poll_failing_every_second_shows_one_message_until_it_works_again(
    page, live_server, demo_data, login, shot
):
    job = ImportJob.objects.create(
        file_name="big.csv", file_path="/nonexistent", status=ImportStatus.RUNNING,
        headers=["email"], mapping=["email"], total_rows=100_000, processed_rows=40_000,
    )  # fmt: skip
    login(page, "marketer")
    page.goto(f"{live_server.url}/imports/{job.pk}/")
    polls = []

    def server_error(route):
        polls.append(route.request.url)
        answer(500)(route)

    page.route(f"{live_server.url}/imports/{job.pk}/", server_error)
    message = page.locator("#messages [data-testid=request-error]")
    message.wait_for(timeout=5000)
    assert message.inner_text().startswith(
        "Something went wrong on our side (error 500): this part of the page was not updated. Try again;"
    )
    page.wait_for_timeout(2500)
    assert len(polls) >= 2
    assert page.locator("[data-testid=request-error]").count() == 1
    shot(page, "poll-500")

    page.unroute(f"{live_server.url}/imports/{job.pk}/")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.DONE, processed_rows=100_000)
    page.locator("[data-testid=import-progress][data-status=done]").wait_for(timeout=5000)
    message.wait_for(state="detached", timeout=5000)
