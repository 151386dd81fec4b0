"""The audit log: every login and API key change leaves an entry, in the action's transaction,
without personal data; admins read it on /audit/ (filtered, keyset-paginated) and in Django's admin."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from leads.api.auth import api_key_create, api_key_revoke
from leads.audit import AuditFilters, audit_page, audit_record
from leads.models import ApiKey, AuditAction, AuditEntry
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


def entries(action) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("id"))


# ---- The service ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["email", "first_name", "last_name", "phone", "name"])
def test_it_refuses_personal_data_in_the_detail(db, key):
    with pytest.raises(ValueError, match="no personal data"):
        audit_record(action=AuditAction.LEAD_MOVED, target_type="lead", target_id=1, detail={key: "x"})
    assert not AuditEntry.objects.exists()


def test_an_entry_rolls_back_with_its_action(db, admin_user):
    with pytest.raises(RuntimeError), transaction.atomic():
        api_key_create(name="forms", scopes=["submit"], created_by=admin_user)
        raise RuntimeError("the action failed after its entry was written")
    assert not ApiKey.objects.exists()
    assert not AuditEntry.objects.exists()


def test_the_actor_is_a_snapshot_that_outlives_the_user(db):
    user = UserFactory(username="gone", roles=["admin"])
    audit_record(action=AuditAction.LOGIN, actor=user, target_type="user", target_id=user.pk)
    user.delete()
    entry = AuditEntry.objects.get()
    assert (entry.actor_id, entry.actor_label) == (None, "gone")


# ---- Logins ---------------------------------------------------------------------------------


def test_a_login_is_recorded_with_the_user_and_address(client, marketer):
    response = client.post(reverse("login"), {"username": "marketer", "password": PASSWORD})
    assert response.status_code == 302
    (entry,) = entries(AuditAction.LOGIN)
    assert (entry.actor_id, entry.actor_label, entry.target_id) == (marketer.pk, "marketer", marketer.pk)
    assert entry.detail == {"ip": "127.0.0.1"}


def test_a_failed_login_is_recorded_without_the_password(client, marketer):
    client.post(reverse("login"), {"username": "marketer", "password": "hunter2-guess"})
    client.post(reverse("login"), {"username": "nobody-by-that-name", "password": "hunter2-guess"})
    failed = entries(AuditAction.LOGIN_FAILED)
    assert [(entry.actor_id, entry.actor_label) for entry in failed] == [
        (None, "marketer"),
        (None, "nobody-by-that-name"),
    ]
    assert all("hunter2" not in str(entry.detail) for entry in failed)
    assert not entries(AuditAction.LOGIN)


def test_the_sixth_wrong_password_is_locked_out_with_a_readable_page(client, marketer, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        response = client.post(reverse("login"), {"username": "marketer", "password": "wrong"})
        assert response.status_code == 200  # the login form again, with its one error
        assert 'data-testid="login-error"' in response.content.decode()
    # The fifth wrong password pauses logins ("After 5 wrong passwords"); the sixth finds them paused.
    assert client.post(reverse("login"), {"username": "marketer", "password": "wrong"}).status_code == 429
    response = client.post(reverse("login"), {"username": "marketer", "password": "wrong"})
    assert response.status_code == 429
    html = response.content.decode()
    assert 'data-testid="login-locked"' in html and "Too many attempts" in html
    assert "logging in is paused for 15 minutes" in html
    # Locked even with the right password now; another account from the same address is not.
    assert client.post(reverse("login"), {"username": "marketer", "password": PASSWORD}).status_code == 429
    UserFactory(username="colleague", roles=["sales"])
    assert client.post(reverse("login"), {"username": "colleague", "password": PASSWORD}).status_code == 302
    assert len(entries(AuditAction.LOGIN_FAILED)) >= 6


# ---- API keys -------------------------------------------------------------------------------


def test_creating_and_revoking_a_key_is_recorded(db, admin_user):
    new = api_key_create(name="Zapier", scopes=["read", "submit"], created_by=admin_user)
    assert api_key_revoke(api_key_id=new.api_key.pk, actor=admin_user) is True
    assert api_key_revoke(api_key_id=new.api_key.pk, actor=admin_user) is False  # already: nothing new

    created, revoked = entries(AuditAction.API_KEY_CREATED), entries(AuditAction.API_KEY_REVOKED)
    assert len(created) == len(revoked) == 1
    assert (created[0].actor_label, created[0].target_type, created[0].target_id) == (
        "admin",
        "api_key",
        new.api_key.pk,
    )
    assert created[0].detail["prefix"] == new.api_key.prefix
    assert created[0].detail["scopes"] == ["read", "submit"]
    assert new.raw_key not in str(created[0].detail)  # the secret is never kept, not even here
    assert revoked[0].detail == {"prefix": new.api_key.prefix}


def test_the_command_line_key_is_recorded_as_made_there(db, capsys):
    call_command("create_api_key", "Website forms", "--scope", "submit")
    (entry,) = entries(AuditAction.API_KEY_CREATED)
    assert (entry.actor_id, entry.actor_label) == (None, "manage.py create_api_key")


def test_the_admin_creates_and_revokes_through_the_service_and_is_recorded(client, admin_user):
    client.force_login(admin_user)
    client.post("/admin/leads/apikey/add/", {"name": "Zapier", "scopes": ["submit"], "form_name": ""})
    key = ApiKey.objects.get()
    client.post("/admin/leads/apikey/", {"action": "revoke", "_selected_action": [key.pk]})
    assert [(e.action, e.actor_id, e.target_id) for e in AuditEntry.objects.exclude(action="login").order_by("id")] == [
        (AuditAction.API_KEY_CREATED, admin_user.pk, key.pk),
        (AuditAction.API_KEY_REVOKED, admin_user.pk, key.pk),
    ]


# ---- Reading it -----------------------------------------------------------------------------


@pytest.fixture
def log(db, admin_user, marketer):
    """60 entries, one a minute, alternating actors and actions, the newest now."""
    now = timezone.now()
    made = []
    for i in range(60):
        actor = admin_user if i % 2 else marketer
        action = AuditAction.LOGIN if i % 3 else AuditAction.API_KEY_CREATED
        entry = audit_record(action=action, actor=actor, target_type="user", target_id=actor.pk)
        made.append(entry)
    AuditEntry.objects.bulk_update(
        [setattr(e, "at", now - timedelta(minutes=60 - i)) or e for i, e in enumerate(made)], ["at"]
    )
    return made


def test_pages_are_keyset_paginated_newest_first_without_gaps_or_repeats(log):
    first = audit_page(filters=AuditFilters(), size=25)
    second = audit_page(filters=AuditFilters(), cursor=first.next_cursor, size=25)
    third = audit_page(filters=AuditFilters(), cursor=second.next_cursor, size=25)
    seen = [e.pk for e in first.entries + second.entries + third.entries]
    assert seen == [e.pk for e in reversed(log)]
    assert third.next_cursor is None
    # A new entry does not shift the pages that follow the first.
    audit_record(action=AuditAction.LOGIN, actor_label="newcomer")
    assert [e.pk for e in audit_page(filters=AuditFilters(), cursor=first.next_cursor, size=25).entries] == [
        e.pk for e in second.entries
    ]


def test_the_page_is_for_admins_only(client, marketer, sales_rep, service_rep, admin_user):
    url = reverse("audit-log")
    assert client.get(url).status_code == 302
    for user in (marketer, sales_rep, service_rep):
        client.force_login(user)
        assert client.get(url).status_code == 403
    client.force_login(admin_user)
    assert client.get(url).status_code == 200


def test_admins_filter_by_actor_action_and_date(client, admin_user, log):
    client.force_login(admin_user)
    url = reverse("audit-log")
    response = client.get(url, {"actor": "marketer", "action": "api_key_created"})
    shown = response.context["entries"]
    expected = [e for e in reversed(log) if e.actor_label == "marketer" and e.action == "api_key_created"]
    assert [e.pk for e in shown] == [e.pk for e in expected] and shown
    assert response.content.decode().count('data-testid="audit-row"') == len(expected)

    today = timezone.localdate()
    assert client.get(url, {"until": (today - timedelta(days=1)).isoformat()}).context["entries"] == []
    assert len(client.get(url, {"since": today.isoformat()}).context["entries"]) == 50  # a full page

    bad = client.get(url, {"since": today.isoformat(), "until": (today - timedelta(days=3)).isoformat()})
    assert bad.status_code == 400 and "The end date is before the start date." in bad.content.decode()


def test_the_page_follows_its_cursor_and_costs_the_same_on_every_page(
    client, admin_user, log, django_assert_max_num_queries
):
    client.force_login(admin_user)
    client.get(reverse("audit-log"))  # warm the session and the user's roles
    with django_assert_max_num_queries(8) as first_page:
        response = client.get(reverse("audit-log"))
    assert len(response.context["entries"]) == 50
    next_url = response.context["next_url"]
    assert next_url
    with django_assert_max_num_queries(len(first_page.captured_queries)):
        older = client.get(reverse("audit-log") + next_url)
    assert len(older.context["entries"]) == 60 + 1 - 50  # and the admin's own login below
    assert "First page" in older.content.decode()


def test_the_django_admin_shows_the_log_read_only(client, admin_user, log):
    client.force_login(admin_user)
    assert client.get("/admin/leads/auditentry/").status_code == 200
    assert client.get(f"/admin/leads/auditentry/{log[0].pk}/change/").status_code == 200
    assert client.get("/admin/leads/auditentry/add/").status_code == 403
    assert client.post(f"/admin/leads/auditentry/{log[0].pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=log[0].pk).exists()


def test_a_web_forms_public_key_is_recorded_when_made_rotated_and_disabled(client, marketer):
    client.force_login(marketer)
    url = reverse("marketing-form-key")
    for action in ("create", "rotate", "disable"):
        assert client.post(url, {"form_name": "Contact us", "action": action}).status_code == 302
    keys = list(ApiKey.objects.order_by("id"))
    assert len(keys) == 2 and all(key.revoked_at for key in keys)
    logged = [
        (entry.action, entry.target_id, entry.actor_id)
        for entry in AuditEntry.objects.filter(target_type="api_key").order_by("id")
    ]
    assert logged == [
        (AuditAction.API_KEY_CREATED, keys[0].pk, marketer.pk),
        (AuditAction.API_KEY_REVOKED, keys[0].pk, marketer.pk),
        (AuditAction.API_KEY_CREATED, keys[1].pk, marketer.pk),
        (AuditAction.API_KEY_REVOKED, keys[1].pk, marketer.pk),
    ]
