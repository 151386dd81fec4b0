"""Per-key rate limit: a fixed-window counter, shared by every web process, fail-open.

DRF's SimpleRateThrottle keeps a list of every request time per client and rewrites it on each
request: at thousands of requests a minute that list is the hot path. A counter per window is
one round trip (a small Lua script). The limit comes from settings.API_RATE_LIMIT
("<n>/<second|minute|hour>"), applied per API key, per user for sessions, per address for
anonymous requests.

With REDIS_URL set the counters live in Redis, so the limit holds across gunicorn workers and
machines; without it (development, tests) in the process's local cache. If Redis does not answer
the request is allowed: the limiter protects the service and must never be why it is down.

A process takes its requests from the shared counter in leases: one round trip counts up to
lease_size(limit) requests at once (one per 1,000 of the limit, at most 20), and the process lets
that many through before it asks again. No window lets more than the limit through, whatever the
number of processes: a lease that crosses the limit holds only what was left under it. A process
may still hold unused requests of its lease when the window ends, so a key can be refused up to
(lease - 1) x processes requests before its limit (with 6000/minute and 5 processes, at most 25
of 6,000). Limits under 2,000 a window are counted request by request.
"""

import logging
import threading
import time

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import BaseThrottle

from leadcrm.redis_clients import redis_for_process

from .auth import request_api_key

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


class ApiRateThrottle(BaseThrottle):
    def __init__(self):
        self.limit, self.period = parse_rate(getattr(settings, "API_RATE_LIMIT", "6000/minute"))
        self.retry_after = None

    def identity(self, request) -> str:
        api_key = request_api_key(request)
        if api_key is not None:
            return f"key:{api_key.prefix}"
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"ip:{self.get_ident(request)}"

    def allow_request(self, request, view) -> bool:
        now = time.time()
        window = int(now // self.period)
        cache_key = f"leadcrm:api-rate:{self.identity(request)}:{window}"
        try:
            allowed = _take(cache_key, self.period + 1, self.limit, window)
        except Exception:
            # The limiter protects the service; it must never be the reason the service is down.
            logger.warning("Rate-limit cache unavailable: request allowed", exc_info=True)
            return True
        if allowed:
            return True
        self.retry_after = max(1, int((window + 1) * self.period - now + 0.999))
        return False

    def wait(self):
        return self.retry_after


LEASE_MAX = 20


def lease_size(limit: int) -> int:
    """Requests a process counts in one round trip: 1 per 1,000 of the limit, 1 to LEASE_MAX."""
    return max(1, min(LEASE_MAX, limit // 1000))


# This process's unused requests of its leases, for the current window only: {counter key: count}.
_leases: dict[str, int] = {}
_lease_window = [0]
_lease_lock = threading.Lock()  # gthread workers run requests in threads


def _take(key: str, ttl: int, limit: int, window: int) -> bool:
    """Whether one more request of the window is within the limit: from this process's lease, or
    from the shared counter, which then counts a new lease."""
    with _lease_lock:
        if _lease_window[0] != window:
            _leases.clear()
            _lease_window[0] = window
        left = _leases.get(key, 0)
        if left:
            _leases[key] = left - 1
            return True
    size = lease_size(limit)
    used = _count(key, ttl, size)
    # The lease holds what the counter had left under the limit, up to its size.
    granted = min(size, limit - (used - size))
    if granted <= 0:
        return False
    if granted > 1:
        with _lease_lock:
            if _lease_window[0] == window:
                _leases[key] = _leases.get(key, 0) + granted - 1
    return True


# INCRBY, with the TTL set by the request that opens the window: one command, so one round trip
# and the least client-side work (a pipeline of SET NX + INCR costs twice the command handling).
# Atomic in Redis, so a window's counter never lives on without its TTL.
_COUNT_SCRIPT = """
local used = redis.call('INCRBY', KEYS[1], ARGV[2])
if used == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""
_counters: dict = {}


def _count(key: str, ttl: int, by: int = 1) -> int:
    """Add `by` to the window's counter and return it: one round trip on Redis."""
    url = getattr(settings, "REDIS_URL", "")
    if url:
        client = redis_for_process(url, timeout=0.25)
        counter = _counters.get(id(client))
        if counter is None:
            counter = _counters[id(client)] = client.register_script(_COUNT_SCRIPT)
        return counter(keys=[key], args=[ttl, by])
    cache = caches[getattr(settings, "API_RATE_LIMIT_CACHE", "default")]
    cache.add(key, 0, timeout=ttl)
    return cache.incr(key, by)
