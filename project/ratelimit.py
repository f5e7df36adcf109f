"""A fixed-window counter in Redis: "at most N of these per window", shared by every web process.

Small on purpose: django-ratelimit would need a shared cache configured for this one use, and
the project already has one Redis client for limits (project.connections). When Redis is down
the limit is not enforced (the page still works) and the error is logged.
"""

import logging
import time

import redis

from .connections import redis_client

log = logging.getLogger(__name__)
PREFIX = "ratelimit:"


def allow(key: str, *, limit: int, window: float) -> bool:
    """Count one hit on `key`; False once more than `limit` hits fell in the current window."""
    window = max(1, int(window))
    bucket = f"{PREFIX}{key}:{int(time.time()) // window}"
    try:
        pipe = redis_client().pipeline()
        pipe.incr(bucket)
        pipe.expire(bucket, window + 5)
        count, _ = pipe.execute()
    except redis.RedisError:
        log.exception("rate limit not enforced: Redis unavailable (%s)", key)
        return True
    return int(count) <= limit
