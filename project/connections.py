"""The Redis connection the portal and the workers share (locks, limits, pools, alert keys)."""

from functools import cache

import redis
from django.conf import settings


@cache
def redis_client() -> redis.Redis:
    # One client (and its connection pool) per process; redis-py reconnects by itself.
    return redis.Redis.from_url(settings.REDIS_URL)
