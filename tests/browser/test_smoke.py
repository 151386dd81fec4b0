"""Smoke test in a real browser: log in as the demo users and see the pipeline."""

from leads.models import Lead
from leads.stages import Stage


def stage_counts_on(page) -> dict[str, int]:
    rows = page.locator("[data-testid=stage-counts] .barchart-row[data-stage]")
    return {
        rows.nth(i).get_attribute("data-stage"): int(rows.nth(i).locator("[data-count]").get_attribute("data-count"))
        for i in range(rows.count())
    }


def test_marketer_logs_in_and_sees_the_pipeline(page, live_server, demo_data, shot):
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/?next=/")
    shot(page, "login")
    page.fill("#id_username", "marketer")
    page.fill("#id_password", "leadcrm-demo")
    page.click("button[type=submit]")

    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Pipeline"
    expected = {stage.value: Lead.objects.filter(stage=stage).count() for stage in Stage}
    assert stage_counts_on(page) == expected
    assert all(count > 0 for count in expected.values())
    assert page.locator("[data-testid=tiles]").get_attribute("data-tiles") == "marketing"
    assert page.locator("[data-tile=new_mqls] .tile-label").inner_text() == "New MQLs"
    assert page.locator("[data-testid=recent-changes] tbody tr").count() > 0
    assert "Maya Fischer" in page.locator(".user-menu summary").inner_text()


def test_a_wrong_password_shows_one_error(page, live_server, demo_data, login):
    login(page, "marketer", "not-the-password")
    error = page.locator("[data-testid=login-error]")
    assert error.count() == 1
    assert "correct username and password" in error.inner_text()
    assert page.url.startswith(f"{live_server.url}/login/")
    assert page.locator("#id_username").input_value() == "marketer"


def test_the_password_can_be_shown(page, live_server, db):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_password", "secret")
    assert page.locator("#id_password").get_attribute("type") == "password"
    page.click("[data-toggle-password]")
    assert page.locator("#id_password").get_attribute("type") == "text"
    assert page.locator("[data-toggle-password]").inner_text() == "Hide"


def test_sales_rep_sees_the_sales_tiles(page, live_server, demo_data, login):
    login(page, "sales")
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("[data-testid=tiles]").get_attribute("data-tiles") == "sales"
    labels = page.locator(".tile-label").all_inner_texts()
    assert labels[:4] == ["My open leads", "In the sales queue", "Due today", "Overdue"]


def test_user_menu_shows_the_role_and_logs_out(page, live_server, demo_data, login):
    login(page, "service")
    page.click(".user-menu summary")
    assert page.locator("[data-testid=user-role]").inner_text() == "Role: Service"
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url


def test_pipeline_fits_a_phone_screen(phone_page, live_server, demo_data, login):
    login(phone_page, "marketer")
    phone_page.wait_for_url(f"{live_server.url}/")
    assert phone_page.locator("h1").inner_text() == "Pipeline"
    overflow = phone_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert phone_page.locator("[data-testid=stage-counts]").is_visible()


def test_keyboard_focus_is_visible(page, live_server, db):
    page.goto(f"{live_server.url}/login/")
    page.keyboard.press("Tab")
    focused_outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused_outline not in ("", "none")
