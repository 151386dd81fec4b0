"""leads.roles: each role is a Django group, read once per request."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from leads.roles import Role, user_roles
from tests.factories import UserFactory


@pytest.mark.parametrize(
    ("groups", "superuser", "expected"),
    [
        ([], False, set()),
        (["marketing"], False, {Role.MARKETING}),
        (["sales", "service"], False, {Role.SALES, Role.SERVICE}),
        (["admin"], False, {Role.ADMIN}),
        ([], True, {Role.ADMIN}),
        (["marketing"], True, {Role.MARKETING, Role.ADMIN}),
    ],
)
def test_the_roles_are_the_users_role_groups(db, groups, superuser, expected):
    user = UserFactory(roles=groups, is_superuser=superuser)
    assert user_roles(user) == expected


def test_a_group_that_is_no_role_gives_no_role(db):
    user = UserFactory()
    user.groups.add(Group.objects.create(name="book club"))
    assert user_roles(user) == set()


def test_a_role_given_shows_on_the_next_page(client, db):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("mql-list")).status_code == 403
    user.groups.add(Group.objects.get(name="marketing"))
    assert client.get(reverse("mql-list")).status_code == 200
    user.groups.clear()
    assert client.get(reverse("mql-list")).status_code == 403
