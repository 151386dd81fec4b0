"""The Content-Security-Policy (on in development too) is never violated by our own pages.

Chromium reports every refused script, style or handler as a console error; this test collects
them while an admin (who sees every page of the navigation) walks through the app.
"""

import pytest

from leads.models import Lead


def watch_console(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def csp_violations(problems: list[str]) -> list[str]:
    return [text for text in problems if "Content Security Policy" in text or "page error" in text]


def test_the_main_pages_load_without_a_csp_violation(page, live_server, demo_data, login, shot):
    problems = watch_console(page)
    page.goto(f"{live_server.url}/login/")
    login(page, "admin")
    links = page.locator("nav.sidenav a")
    urls = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert "/sales/queue/" in urls and "/marketing/mqls/" in urls and "/scoring/" in urls and "/audit/" in urls
    lead = Lead.objects.order_by("pk").first()
    urls += [f"/leads/{lead.pk}/", "/search/?q=a", "/imports/new/", "/notifications/read/"]
    visited = []
    for url in urls:
        if url.endswith("/read/"):
            continue  # a POST endpoint, listed to be sure the loop skips it
        page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
        visited.append(page.url)
    shot(page, "last-page")
    page.goto(f"{live_server.url}/audit/")
    assert page.locator("[data-testid=audit-row]").count() >= 1  # at least this admin's login
    shot(page, "audit-log")

    assert len(visited) >= 12
    assert csp_violations(problems) == []


def test_the_watch_does_see_a_violation(page, live_server, db):
    """Proof that the test above can fail: an inline script is refused and reported."""
    problems = watch_console(page)
    page.goto(f"{live_server.url}/login/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1'; "
        "document.body.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None
    assert any("Content Security Policy" in text for text in csp_violations(problems))


@pytest.mark.parametrize("username", ["sales", "service", "marketer"])
def test_each_roles_landing_page_loads_without_a_csp_violation(page, live_server, demo_data, login, username):
    problems = watch_console(page)
    login(page, username)
    page.wait_for_load_state("networkidle")
    assert csp_violations(problems) == []
