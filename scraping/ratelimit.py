"""A global minimum gap between lookups, shared through Redis by every scraping worker.

Celery's `rate_limit` holds per worker instance only; the site must never see two lookups
closer than the configured interval however many workers run. One key per egress address
(`limiter_key`: the proxy or "direct"), so workers behind different addresses each get the full
rate and workers behind the same one share it.

Why not the `limits` library: its windows count hits in whole seconds, so "12/minute" allows
12 back-to-back lookups. The polite rule is a *gap*, which is one atomic Redis command:
`SET key NX PX interval` succeeds for exactly one caller per interval.
"""

from __future__ import annotations

import time
import uuid

import redis

from scraping.errors import RateLimitedError


class NoSlotError(RateLimitedError):
    """We could not get a polite slot in time (our own limit, not the site's): retry later.
    Not a sign of trouble at the site, so it does not count towards the circuit breaker."""


class RateSlots:
    def __init__(self, client: redis.Redis, interval: float, limiter_key: str = "direct") -> None:
        self.client = client
        self.interval_ms = max(1, round(interval * 1000))
        self.key = f"scraping:slot:{limiter_key}"

    def try_acquire(self) -> float:
        """Take the slot now (returns 0.0) or return the seconds until it frees."""
        if self.client.set(self.key, uuid.uuid4().hex, nx=True, px=self.interval_ms):
            return 0.0
        remaining_ms = self.client.pttl(self.key)
        # -2: expired between the two commands; -1 cannot happen (we always set PX).
        return max(remaining_ms, 1) / 1000.0

    def acquire(self, max_wait: float) -> bool:
        """Wait up to `max_wait` seconds for a slot. False if none came in time."""
        deadline = time.monotonic() + max_wait
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return True
            if time.monotonic() + wait > deadline:
                return False
            time.sleep(wait)

    def wait_for_slot(self, max_wait: float) -> None:
        """A pacer for CensusClient: block until a slot is ours, or raise NoSlotError."""
        if not self.acquire(max_wait):
            raise NoSlotError(
                f"no lookup slot within {max_wait:g}s", retry_after=self.seconds_until_free()
            )

    def seconds_until_free(self) -> float:
        return max(self.client.pttl(self.key), 0) / 1000.0
