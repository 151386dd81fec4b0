"""API keys over HTTP: Bearer only, hashed, revocable, scoped; last use recorded cheaply."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from leads.api.auth import api_key_create, api_key_revoke, hash_key
from leads.models import ApiKey
from tests.api.conftest import assert_error

URL = "/api/v1/pipeline/"


def test_a_valid_key_is_accepted(read_client):
    assert read_client.get(URL).status_code == 200


def test_the_key_is_stored_only_as_its_hash(db):
    new = api_key_create(name="forms", scopes=["submit"])
    stored = ApiKey.objects.get()
    assert new.raw_key.startswith(stored.prefix + "_")
    assert stored.key_hash == hash_key(new.raw_key)
    assert all(new.raw_key != getattr(stored, f.attname) for f in ApiKey._meta.concrete_fields)


def test_no_credentials_is_401_with_a_bearer_challenge(db):
    response = APIClient().get(URL)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "header",
    ["Bearer lk_deadbeef_nope", "Bearer nonsense", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "Token abc"],
)
def test_a_bad_key_or_scheme_is_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get(URL), 401, "authentication_failed")


def test_a_correct_prefix_with_a_wrong_secret_is_401(read_client):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_client.api_key.prefix}_wrong-secret")
    assert_error(client.get(URL), 401)


def test_a_revoked_key_is_refused_at_once(read_client):
    assert read_client.get(URL).status_code == 200
    api_key_revoke(api_key_id=read_client.api_key.pk)
    assert_error(read_client.get(URL), 401, "authentication_failed")


@pytest.mark.parametrize("name", ["api_key", "key", "token", "access_token"])
def test_a_key_in_the_query_string_is_refused(read_client, name):
    client = APIClient()
    response = client.get(f"{URL}?{name}={read_client.raw_key}")
    body = assert_error(response, 401, "authentication_failed")
    assert "query string" in body["message"]
    # Even together with a valid header: the key was exposed, the request is refused.
    assert_error(read_client.get(f"{URL}?{name}=x"), 401)


def test_last_used_is_recorded_at_most_once_a_minute(read_client, django_assert_num_queries):
    read_client.get(URL)
    key = ApiKey.objects.get()
    first_use = key.last_used_at
    assert first_use is not None
    read_client.get(URL)
    assert ApiKey.objects.get().last_used_at == first_use  # not rewritten within the minute
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    read_client.get(URL)
    assert ApiKey.objects.get().last_used_at > first_use


def test_an_inactive_persons_token_is_refused(client_for, sales_rep):
    client = client_for("read", user=sales_rep)
    sales_rep.is_active = False
    sales_rep.save()
    assert_error(client.get(URL), 401)


def test_create_api_key_prints_a_working_key_once(db, capsys):
    call_command("create_api_key", "Website forms", "--scope", "submit", "--scope", "read")
    raw_key = capsys.readouterr().out.strip()
    key = ApiKey.objects.get()
    assert key.name == "Website forms" and key.scopes == ["read", "submit"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.get(URL).status_code == 200


def test_unknown_scopes_are_refused(db):
    with pytest.raises(ValueError, match="Unknown scope"):
        api_key_create(name="x", scopes=["admin"])


def test_the_admin_creates_a_key_shows_it_once_and_revokes(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/leads/apikey/add/", {"name": "Zapier", "scopes": ["submit", "read"], "form_name": ""}, follow=True
    )
    assert response.status_code == 200
    key = ApiKey.objects.get()
    shown = [str(m) for m in response.context["messages"]]
    raw_key = next(m for m in shown if "lk_" in m).rsplit(" ", 1)[-1]
    assert hash_key(raw_key) == key.key_hash
    response = client.post("/admin/leads/apikey/", {"action": "revoke", "_selected_action": [key.pk]}, follow=True)
    assert ApiKey.objects.get().revoked_at is not None


def test_the_secret_is_compared_in_constant_time(read_client, monkeypatch):
    """The stored hash and the presented key's hash go through hmac.compare_digest, never ==."""
    import hmac

    from leads.api import auth

    seen = []
    real_compare = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    assert read_client.get(URL).status_code == 200
    assert seen == [(read_client.api_key.key_hash, hash_key(read_client.raw_key))]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_client.api_key.prefix}_guess")
    assert_error(client.get(URL), 401)
    assert seen[-1] == (read_client.api_key.key_hash, hash_key(f"{read_client.api_key.prefix}_guess"))


def test_a_key_anywhere_but_the_header_authenticates_nobody(read_client):
    """Under a name we do not list, a key in the URL or the body is just data: still 401."""
    client = APIClient()
    assert_error(client.get(f"{URL}?x={read_client.raw_key}"), 401, "not_authenticated")
    assert_error(client.post("/api/v1/leads/", {"api_key": read_client.raw_key}, format="json"), 401)


def test_a_key_revoked_in_the_admin_is_refused_on_the_next_request(read_client, client, admin_user):
    assert read_client.get(URL).status_code == 200
    client.force_login(admin_user)
    client.post("/admin/leads/apikey/", {"action": "revoke", "_selected_action": [read_client.api_key.pk]})
    assert_error(read_client.get(URL), 401, "authentication_failed")
