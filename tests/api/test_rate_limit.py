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


@pytest.fixture
def shared_counter(settings):
    """The limiter on Redis (DB 4), with no lease left over in this process from another test."""
    import redis

    from leads.api import throttling

    settings.REDIS_URL = "redis://127.0.0.1:6379/4"
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1)
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at redis://127.0.0.1:6379/4")
    throttling._leases.clear()
    yield client
    throttling._leases.clear()


def counter_of(client, api_key) -> int | None:
    keys = client.keys(f"leadcrm:api-rate:key:{api_key.prefix}:*")
    assert len(keys) <= 1
    return int(client.get(keys[0])) if keys else None


@pytest.mark.redis
def test_a_process_counts_a_lease_of_requests_at_once(read_client, shared_counter, settings):
    settings.API_RATE_LIMIT = "5000/hour"  # a lease of 5
    assert read_client.get("/api/v1/pipeline/").status_code == 200
    assert counter_of(shared_counter, read_client.api_key) == 5
    for _ in range(4):  # the rest of the lease: no round trip, the counter stays
        assert read_client.get("/api/v1/pipeline/").status_code == 200
    assert counter_of(shared_counter, read_client.api_key) == 5
    assert read_client.get("/api/v1/pipeline/").status_code == 200
    assert counter_of(shared_counter, read_client.api_key) == 10


@pytest.mark.redis
def test_a_lease_never_lets_more_than_the_limit_through(read_client, shared_counter, settings):
    from leads.api import throttling

    settings.API_RATE_LIMIT = "2000/hour"  # a lease of 2
    assert read_client.get("/api/v1/pipeline/").status_code == 200  # opens the window's counter
    (key,) = shared_counter.keys(f"leadcrm:api-rate:key:{read_client.api_key.prefix}:*")
    shared_counter.set(key, 1999, keepttl=True)  # the other processes used the rest
    throttling._leases.clear()  # this process's lease is spent too

    assert read_client.get("/api/v1/pipeline/").status_code == 200  # the one left under the limit
    assert_error(read_client.get("/api/v1/pipeline/"), 429, "rate_limited")
    throttling._leases.clear()  # another process
    assert_error(read_client.get("/api/v1/pipeline/"), 429, "rate_limited")
