"""Playwright fixtures for browser tests, against Debian's chromium (`playwright install` is not used).

Reuse them in any tests/browser/test_*.py:

    def test_something(page, live_server, login):
        login(page, "marketer")              # a user whose password is DEMO_PASSWORD
        page.goto(live_server.url + "/")
        shot(page, "after-login")           # artifacts/screenshots/<test name>-after-login.png

`page` is a 1366x800 page; `phone_page` a 390x844 one. Each saves a full-page screenshot of where
the test ended to artifacts/screenshots/<test name>.png (pass or fail). Every test in this folder
is marked `browser` (see tests/conftest.py: skipped without chromium, failed in CI).
"""

import os
import re
from importlib import import_module
from pathlib import Path

import pytest
from django.core.management import call_command

from leads.management.commands.seed_demo import DEMO_PASSWORD

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run next to one
# unless told. The live server runs in its own thread, so this only concerns the test's own ORM calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


@pytest.fixture(scope="session")
def playwright_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _page_fixture(request, browser, viewport, suffix=""):
    context = browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        yield page
    finally:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=SCREENSHOTS / f"{_file_name(request.node.name)}{suffix}.png", full_page=True)
        finally:
            context.close()


@pytest.fixture
def page(request, playwright_browser):
    yield from _page_fixture(request, playwright_browser, DESKTOP)


@pytest.fixture
def phone_page(request, playwright_browser):
    yield from _page_fixture(request, playwright_browser, PHONE, suffix="-phone")


@pytest.fixture
def shot(request):
    """shot(page, "step") saves artifacts/screenshots/<test name>-step.png."""

    def save(page, label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{_file_name(request.node.name)}-{_file_name(label)}.png"
        page.screenshot(path=path, full_page=True)
        return path

    return save


def restore_role_groups() -> None:
    """Put back the role groups of migration leads/0002_roles, permissions included.

    The live server needs a transactional database, and its flush after each test empties
    auth_group too (serialized rollback would restore it, but breaks on content types as soon
    as one transactional test without it has run).
    """
    from django.contrib.auth.models import Group, Permission

    for name, codenames in import_module("leads.migrations.0002_roles").ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = Permission.objects.filter(content_type__app_label="leads")
        if codenames is not None:
            permissions = permissions.filter(codename__in=codenames)
        group.permissions.set(permissions)


@pytest.fixture
def role_groups(transactional_db):
    restore_role_groups()


@pytest.fixture
def demo_data(role_groups, settings):
    """A small demo pipeline and the demo users (password DEMO_PASSWORD), as seed_demo makes them."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", leads=40, stdout=open(os.devnull, "w"))  # noqa: SIM115


@pytest.fixture
def login(live_server):
    """login(page, username) signs in through the login form and waits for the landing page."""

    def sign_in(page, username: str, password: str = DEMO_PASSWORD) -> None:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()

    return sign_in
