"""What the Redis broker holds: queue lengths for ops, and which referrals still have a task.

Kombu's Redis transport keeps each queue as lists (one per priority step: `scraping`,
`scraping\\x06\\x163`, ...) and every delivered-but-unacknowledged message (running, or held by a
worker until its countdown/ETA) in the `unacked` hash. A referral with a message in either place
has live work; one with neither has lost it (e.g. Redis restarted without persistence).
This module is the one place that decodes kombu's messages.

A worker that dies without goodbyes (SIGKILL, OOM kill, lost node) leaves its messages in
`unacked`, and kombu gives them back only after the visibility timeout (an hour: countdowns held
by workers need it). So every worker also writes a heartbeat listing the delivery tags it holds
(`record_heartbeat`, every WORKER_HEARTBEAT_EVERY, expiring after WORKER_DEAD_AFTER); an
`unacked` entry older than WORKER_DEAD_AFTER that no live heartbeat lists has no worker behind
it, and `reclaim_orphans` puts it back on its queue at once, with kombu's own atomic restore.
A message given back by mistake (a live worker whose heartbeat was late) can only run twice in
Celery's eyes: the referral's run lock still lets one run at a time touch the site.
"""

import base64
import json
import logging
import time
from collections.abc import Iterable
from functools import cache

import redis
from django.conf import settings
from kombu.transport.redis import Channel

from project.connections import redis_at

from .dispatch import VERIFY_REFERRAL, Queue

logger = logging.getLogger(__name__)

HEARTBEAT_PREFIX = "pipeline:worker:"
UNACKED, UNACKED_INDEX = Channel.unacked_key, Channel.unacked_index_key


@cache
def _client() -> redis.Redis:
    return redis_at(settings.CELERY_BROKER_URL)


def _queue_keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{Channel.sep}{step}" for step in Channel.priority_steps if step]


def queue_lengths() -> dict[str, int]:
    client = _client()
    return {str(q): sum(client.llen(k) for k in _queue_keys(q)) for q in Queue}


def task_call(message: dict) -> tuple[str | None, list]:
    """The task name and positional arguments of one kombu message (task protocol 2, JSON)."""
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return message.get("headers", {}).get("task"), args


def _referral_id(message: dict) -> int | None:
    try:
        name, args = task_call(message)
        return int(args[0]) if name == VERIFY_REFERRAL else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None  # not ours, or not a task message


def queued_referral_ids(queue: str = Queue.SCRAPING) -> list[int]:
    """Referrals whose verification waits in `queue`, oldest message last (Redis list order)."""
    client = _client()
    messages = [json.loads(raw) for key in _queue_keys(queue) for raw in client.lrange(key, 0, -1)]
    return [i for i in map(_referral_id, messages) if i is not None]


def referral_ids_with_tasks() -> set[int]:
    """Referrals that have a verification message waiting, running or held for later."""
    held = []
    for payload in _client().hvals("unacked"):
        message, _exchange, _routing_key = json.loads(payload)
        held.append(message)
    ids = {i for i in map(_referral_id, held) if i is not None}
    return ids | set(queued_referral_ids(Queue.SCRAPING))


# --- dead workers' messages -------------------------------------------------------------------


def record_heartbeat(hostname: str, held_tags: Iterable[str], queues: Iterable[str] = ()) -> None:
    """Worker `hostname` is alive, consumes `queues` and holds these delivery tags (kombu's,
    in `unacked`). The queues also answer /healthz/pipeline without asking every worker."""
    beat = {"at": time.time(), "held": sorted(held_tags), "queues": sorted(queues)}
    _client().set(HEARTBEAT_PREFIX + hostname, json.dumps(beat), ex=_dead_after())


def forget_heartbeat(hostname: str) -> None:
    """The worker stopped cleanly: it gave its messages back (kombu restores them on close)."""
    _client().delete(HEARTBEAT_PREFIX + hostname)


def live_workers() -> dict[str, dict]:
    """Heartbeats of the workers alive now: hostname → {"at", "held", "queues"}."""
    client = _client()
    keys = list(client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=100))
    beats = {}
    for key, raw in zip(keys, client.mget(keys) if keys else [], strict=True):
        if raw is not None:
            beats[key.decode()[len(HEARTBEAT_PREFIX) :]] = json.loads(raw)
    return beats


def orphaned_tags(now: float | None = None) -> list[str]:
    """Delivery tags in `unacked` for longer than WORKER_DEAD_AFTER that no live worker holds."""
    now = time.time() if now is None else now
    held = {tag for beat in live_workers().values() for tag in beat["held"]}
    old = _client().zrangebyscore(UNACKED_INDEX, "-inf", now - _dead_after())
    return [tag.decode() for tag in old if tag.decode() not in held]


def reclaim_orphans(channel) -> list[str]:
    """Put every orphaned message back on its queue; `channel` is a kombu Redis channel (its
    exchange bindings say which queue). Safe to run in many workers at once: kombu's restore
    is one transaction watching `unacked`, so a message is given back once."""
    tags = orphaned_tags()
    for tag in tags:
        channel.qos.restore_by_tag(tag)  # to the head of its queue: it runs next
    if tags:
        logger.warning("gave back %d messages of dead workers: %s", len(tags), tags[:10])
    return tags


def _dead_after() -> int:
    return max(1, round(settings.WORKER_DEAD_AFTER))


def _eta(message: dict) -> float | None:
    """When a held message is due (Celery puts a countdown's or ETA's time in its headers)."""
    from datetime import datetime

    raw = message.get("headers", {}).get("eta")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw).timestamp()
    except (TypeError, ValueError):
        return None


def work_counts(now: float | None = None) -> dict[str, dict[str, int]]:
    """Per queue: messages `waiting` in its lists, `held` by a worker (running or reserved) and
    `scheduled` (held by a worker until a countdown/ETA: deferred or retrying work), and the
    `total`. A queue list alone reads 0 while a worker sits on every deferred lookup."""
    import time

    now = time.time() if now is None else now
    client = _client()
    counts = {str(q): {"waiting": 0, "held": 0, "scheduled": 0, "total": 0} for q in Queue}
    for queue, n in queue_lengths().items():
        counts[queue]["waiting"] = n
    for payload in client.hvals("unacked"):
        try:
            message, _exchange, routing_key = json.loads(payload)
        except (TypeError, ValueError):
            continue
        queue = routing_key or message.get("properties", {}).get("delivery_info", {}).get(
            "routing_key", ""
        )
        if queue not in counts:
            continue
        eta = _eta(message)
        counts[queue]["scheduled" if eta is not None and eta > now else "held"] += 1
    for figures in counts.values():
        figures["total"] = figures["waiting"] + figures["held"] + figures["scheduled"]
    return counts
