"""The left navigation, by role: each role sees its own workspace's pages."""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from .roles import Role, has_role


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    roles: tuple[Role, ...]  # empty: everyone signed in


NAV_ITEMS = [
    NavItem("Pipeline", "home", ()),
]


def navigation_for(user, current_path: str) -> list[dict]:
    items = []
    for item in NAV_ITEMS:
        if item.roles and not has_role(user, *item.roles):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        active = current_path == url or (url != "/" and current_path.startswith(url))
        items.append({"label": item.label, "url": url, "active": active})
    if has_role(user, Role.ADMIN) or user.is_staff:
        items.append({"label": "Admin", "url": reverse("admin:index"), "active": False})
    return items
