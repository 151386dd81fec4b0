import pytest
from rest_framework.test import APIClient

from leads.api.auth import api_key_create


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The role fixtures create users: a fast hasher keeps these tests quick (never in production)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def client_for(db):
    """client_for("submit", "read") -> an APIClient sending a fresh integration key with those scopes."""

    def make(*scopes: str, form_name: str = "", user=None) -> APIClient:
        new = api_key_create(name=f"test-{'-'.join(scopes)}", scopes=list(scopes), form_name=form_name, user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.raw_key}")
        client.api_key = new.api_key
        client.raw_key = new.raw_key
        return client

    return make


@pytest.fixture
def submit_client(client_for):
    return client_for("submit")


@pytest.fixture
def read_client(client_for):
    return client_for("read")


@pytest.fixture
def write_client(client_for):
    return client_for("read", "write")


@pytest.fixture
def session_client(db):
    """session_client(user) -> an APIClient logged in as that person."""

    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def assert_error(response, status: int, error_type: str | None = None) -> dict:
    """Every error has the one shape: {"type", "message", "errors"}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"type", "message", "errors"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["errors"], dict)
    if error_type is not None:
        assert body["type"] == error_type, body
    return body
