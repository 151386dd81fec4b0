"""Redis connections for the request path: one per process, URL and timeout, without a pool.

Taking a connection from redis-py's pool and giving it back costs more than the one command the
rate limit or the scoring nudge sends. A single-connection client is thread-safe (redis-py locks
it); the cache is keyed by process id so that a forked child never shares its parent's socket.
"""

import os

import redis

_clients: dict[tuple, redis.Redis] = {}


def redis_for_process(url: str, *, timeout: float) -> redis.Redis:
    """This process's connection to `url` (connect and command timeouts of `timeout` seconds)."""
    key = (url, timeout, os.getpid())
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, single_connection_client=True
        )
        _clients[key] = client
    return client
