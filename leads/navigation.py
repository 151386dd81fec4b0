"""The left navigation, by role: each role sees its own workspace's pages.

Adding a page to the navigation is one line in NAV_ITEMS: its label, its URL name, the roles
that see it (empty: everyone signed in; admin sees everything) and the section it sits in.
An item whose URL name does not resolve yet is skipped, so an item can land before its page.
"""

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse

from .roles import Role, has_role

MARKETING, SALES, SERVICE, ADMIN = Role.MARKETING, Role.SALES, Role.SERVICE, Role.ADMIN


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: tuple[Role, ...] = ()  # empty: everyone signed in
    section: str = ""


NAV_ITEMS: list[NavItem] = [
    NavItem("Pipeline", "home"),
    NavItem("MQLs", "mql-list", (MARKETING,), "Marketing"),
    NavItem("Scoring rules", "scoring-rules", (MARKETING,), "Marketing"),
    NavItem("Reports", "marketing-reports", (MARKETING,), "Marketing"),
    NavItem("Forms", "marketing-forms", (MARKETING,), "Marketing"),
    NavItem("Import", "import-list", (MARKETING,), "Marketing"),
    NavItem("Duplicates", "duplicate-list", (MARKETING,), "Marketing"),
    NavItem("Sales queue", "sales-queue", (SALES,), "Sales"),
    NavItem("My leads", "sales-my-leads", (SALES,), "Sales"),
    NavItem("Find a customer", "service-search", (SERVICE,), "Service"),
    NavItem("My upgrade flags", "service-flags", (SERVICE,), "Service"),
    NavItem("PQLs", "service-pqls", (SERVICE,), "Service"),
    NavItem("Audit log", "audit-log", (ADMIN,), "Admin"),
    NavItem("Privacy", "privacy", (ADMIN,), "Admin"),
    NavItem("Django admin", "admin:index", (ADMIN,), "Admin"),
]


@lru_cache(maxsize=256)
def _reversed(url_name: str, script_prefix: str, urlconf: str) -> str | None:
    try:
        return reverse(url_name)
    except NoReverseMatch:
        return None


def fixed_url(url_name: str) -> str | None:
    """The path of a page without arguments (None if the name does not resolve), reversed once per
    process (and script prefix and URL conf): every page's layout links up to 15 navigation items
    and a few fixed pages, and a reverse() costs ~80 us."""
    return _reversed(url_name, get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)


def navigation_for(user, current_path: str) -> list[dict]:
    items = []
    for item in NAV_ITEMS:
        if item.roles and not has_role(user, *item.roles):
            continue
        url = fixed_url(item.url_name)
        if url is None:
            continue
        active = current_path == url or (url != "/" and current_path.startswith(url))
        items.append({"label": item.label, "url": url, "active": active, "section": item.section})
    return items
