"""Per-person daily caps against bulk abuse, counted in Redis per calendar day.

    new referrals      NEW_REFERRALS_DAILY_CAP   form, import rows, API (a duplicate attempt too)
    re-verifications   REVERIFY_DAILY_CAP        portal and API

`reserve` takes what fits under the cap and gives back what went over, so two requests at once
never pass it together.
"""

import logging

import redis
from django.conf import settings
from django.utils import timezone

from project.connections import redis_client

log = logging.getLogger(__name__)

NEW_REFERRALS = "new"
REVERIFY = "reverify"


def cap(kind: str) -> int:
    return (
        settings.NEW_REFERRALS_DAILY_CAP if kind == NEW_REFERRALS else settings.REVERIFY_DAILY_CAP
    )


def _key(kind: str, user) -> str:
    prefix = "reverify:day" if kind == REVERIFY else "referrals:new:day"
    return f"{prefix}:{user.pk}:{timezone.localdate().isoformat()}"


def used_today(kind: str, user) -> int:
    return int(redis_client().get(_key(kind, user)) or 0)


def left_today(kind: str, user) -> int:
    try:
        return max(0, cap(kind) - used_today(kind, user))
    except redis.RedisError:
        return cap(kind)


def reserve(kind: str, user, wanted: int, *, when_redis_down: str = "refuse") -> int:
    """Take up to `wanted` from the person's cap for today; returns how many were granted.
    Redis away: nothing (`refuse`) or everything (`allow`: a new referral must not wait for the
    counter; the cap is abuse control, not bookkeeping)."""
    if wanted <= 0:
        return 0
    key = _key(kind, user)
    client = redis_client()
    try:
        used = int(client.incrby(key, wanted))
        client.expire(key, 2 * 86400)
        over = min(wanted, max(0, used - cap(kind)))
        if over:
            client.decrby(key, over)
    except redis.RedisError:
        log.exception("daily cap %s not checked: Redis unavailable", kind)
        return wanted if when_redis_down == "allow" else 0
    return wanted - over


def give_back(kind: str, user, count: int) -> None:
    if count <= 0:
        return
    try:
        redis_client().decrby(_key(kind, user), count)
    except redis.RedisError:
        log.warning("daily cap %s: could not give back %d", kind, count)
