"""Per-key rate limit: a fixed-window counter, shared by every web process, fail-open.

DRF's SimpleRateThrottle keeps a list of every request time per client and rewrites it on each
request: at thousands of requests a minute that list is the hot path. A counter per window is
one round trip (a small Lua script). The limit comes from settings.API_RATE_LIMIT
("<n>/<second|minute|hour>"), applied per API key, per user for sessions, per address for
anonymous requests.

With REDIS_URL set the counters live in Redis, so the limit holds across gunicorn workers and
machines; without it (development, tests) in the process's local cache. If Redis does not answer
the request is allowed: the limiter protects the service and must never be why it is down.
"""

import logging
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
            used = _count(cache_key, self.period + 1)
        except Exception:
            # The limiter protects the service; it must never be the reason the service is down.
            logger.warning("Rate-limit cache unavailable: request allowed", exc_info=True)
            return True
        if used <= self.limit:
            return True
        self.retry_after = max(1, int((window + 1) * self.period - now + 0.999))
        return False

    def wait(self):
        return self.retry_after


# INCR, with the TTL set by the request that opens the window: one command, so one round trip
# and the least client-side work (a pipeline of SET NX + INCR costs twice the command handling).
# Atomic in Redis, so a window's counter never lives on without its TTL.
_COUNT_SCRIPT = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""
_counters: dict = {}


def _count(key: str, ttl: int) -> int:
    """Increment the window's counter and return it: one round trip on Redis."""
    url = getattr(settings, "REDIS_URL", "")
    if url:
        client = redis_for_process(url, timeout=0.25)
        counter = _counters.get(id(client))
        if counter is None:
            counter = _counters[id(client)] = client.register_script(_COUNT_SCRIPT)
        return counter(keys=[key], args=[ttl])
    cache = caches[getattr(settings, "API_RATE_LIMIT_CACHE", "default")]
    cache.add(key, 0, timeout=ttl)
    return cache.incr(key)
