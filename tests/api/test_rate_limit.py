import pytest
from django.core.cache import cache

from tests.api.conftest import assert_error


@pytest.fixture
def tight_limit(settings):
    settings.API_RATE_LIMIT = "3/minute"
    cache.clear()
    yield
    cache.clear()


def test_over_the_limit_is_429_with_retry_after(read_client, tight_limit):
    for _ in range(3):
        assert read_client.get("/api/v1/pipeline/").status_code == 200
    response = read_client.get("/api/v1/pipeline/")
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response["Retry-After"]) <= 60


def test_the_limit_is_per_key(client_for, tight_limit):
    first, second = client_for("read"), client_for("read")
    for _ in range(3):
        first.get("/api/v1/pipeline/")
    assert first.get("/api/v1/pipeline/").status_code == 429
    assert second.get("/api/v1/pipeline/").status_code == 200
