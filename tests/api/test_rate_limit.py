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


@pytest.mark.redis
def test_with_redis_the_limit_is_shared_by_every_process(read_client, settings):
    import redis

    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    settings.API_RATE_LIMIT = "2/minute"
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at redis://127.0.0.1:6379/4")
    for _ in range(2):
        assert read_client.get("/api/v1/pipeline/").status_code == 200
    response = read_client.get("/api/v1/pipeline/")
    assert_error(response, 429, "rate_limited")
    keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"leadcrm:api-rate:key:{read_client.api_key.prefix}:*")
    assert len(keys) == 1


def test_an_unreachable_redis_lets_requests_through(read_client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.API_RATE_LIMIT = "1/minute"
    assert read_client.get("/api/v1/pipeline/").status_code == 200
    assert read_client.get("/api/v1/pipeline/").status_code == 200
