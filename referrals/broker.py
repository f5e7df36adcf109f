"""What the Redis broker holds: queue lengths for ops, and which referrals still have a task.

Kombu's Redis transport keeps each queue as lists (one per priority step: `scraping`,
`scraping\\x06\\x163`, ...) and every delivered-but-unacknowledged message (running, or held by a
worker until its countdown/ETA) in the `unacked` hash. A referral with a message in either place
has live work; one with neither has lost it (e.g. Redis restarted without persistence).
"""

import base64
import json
from functools import cache

import redis
from django.conf import settings
from kombu.transport.redis import Channel

QUEUES = ("scraping", "default", "captcha")
VERIFY_TASK = "referrals.tasks.verify_referral"


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _queue_keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in Channel.priority_steps if step]


def queue_lengths() -> dict[str, int]:
    client = _client()
    return {q: sum(client.llen(k) for k in _queue_keys(q)) for q in QUEUES}


def _referral_id(raw: bytes) -> int | None:
    message = json.loads(raw)
    if message.get("headers", {}).get("task") != VERIFY_TASK:
        return None
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return int(args[0])


def referral_ids_with_tasks() -> set[int]:
    """Referrals that have a verification message waiting, running or held for later."""
    client = _client()
    raws = []
    for key in _queue_keys("scraping"):
        raws.extend(client.lrange(key, 0, -1))
    for payload in client.hvals("unacked"):
        message, _exchange, _routing_key = json.loads(payload)
        raws.append(json.dumps(message))
    ids = set()
    for raw in raws:
        try:
            referral_id = _referral_id(raw)
        except (ValueError, KeyError, IndexError, TypeError):
            continue  # not ours, or not a task message
        if referral_id is not None:
            ids.add(referral_id)
    return ids
