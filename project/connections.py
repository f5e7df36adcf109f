"""The Redis connections the portal and the workers share (locks, limits, pools, alert keys)."""

from functools import cache

import redis
from django.conf import settings


def redis_at(url: str) -> redis.Redis:
    """A client of the Redis at `url` whose calls wait at most REDIS_TIMEOUT to connect and for
    each answer (redis-py waits for ever by default). A refused connection fails at once."""
    timeout = settings.REDIS_TIMEOUT
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


@cache
def redis_client() -> redis.Redis:
    # One client (and its connection pool) per process; redis-py reconnects by itself.
    return redis_at(settings.REDIS_URL)
