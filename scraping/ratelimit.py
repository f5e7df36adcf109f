"""A global minimum gap between lookups, shared through Redis by every scraping worker.

Celery's `rate_limit` holds per worker instance only; the site must never see two lookups
closer than the configured interval however many workers run. One key per egress address
(`limiter_key`: the proxy or "direct"), so workers behind different addresses each get the full
rate and workers behind the same one share it.

Why not the `limits` library: its windows count hits in whole seconds, so "12/minute" allows
12 back-to-back lookups. The polite rule is a *gap*, which is one atomic Redis command:
`SET key NX PX interval` succeeds for exactly one caller per interval.

The gap is measured from the end of the previous consulta, not from its start: a slot is held
while its consulta is out (`hold`, at most: a dead holder's slot frees by itself) and frees
`interval` after the answer came back (`release`). A gap counted from the start would shrink at
the site whenever one request spends longer between the browser and the site than the next one
does (a busy machine, a slow proxy). Counted from the answer, the site never sees two consultas
from one address at once, nor two closer than `interval`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import redis

from scraping.errors import LookupCancelled, RateLimitedError


class NoSlotError(RateLimitedError):
    """We could not get a polite slot in time (our own limit, not the site's): retry later.
    Not a sign of trouble at the site, so it does not count towards the circuit breaker."""


class SlotWaitCancelled(LookupCancelled):
    """The lookup was cancelled (its run's soft time limit) while it waited for its polite
    slot: like NoSlotError, our own pacing held it and no consulta had left, so the site had no
    part in the delay. `retry_after`: seconds until the slot frees."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateSlots:
    def __init__(
        self,
        client: redis.Redis,
        interval: float,
        limiter_key: str = "direct",
        hold: float = 0.0,
    ) -> None:
        self.client = client
        self.interval_ms = max(1, round(interval * 1000))
        self.hold_ms = max(0, round(hold * 1000))
        self.key = f"scraping:slot:{limiter_key}"
        self._token: str | None = None  # the slot this instance holds, for release()
        self._release = client.register_script(RELEASE)

    def try_acquire(self) -> float:
        """Take the slot now (returns 0.0) or return the seconds until it frees (while a
        consulta is out: until its hold ends at the latest)."""
        token = uuid.uuid4().hex
        if self.client.set(self.key, token, nx=True, px=self.interval_ms + self.hold_ms):
            self._token = token
            return 0.0
        remaining_ms = self.client.pttl(self.key)
        # -2: expired between the two commands; -1 cannot happen (we always set PX).
        return max(remaining_ms, 1) / 1000.0

    def release(self) -> None:
        """The consulta of our slot is over (answered, failed or never sent): the next slot
        comes `interval` from now. A slot taken over since (our hold ran out) is left alone."""
        if self._token is not None:
            self._release(keys=[self.key], args=[self._token, self.interval_ms])
            self._token = None

    def acquire(self, max_wait: float, cancelled: threading.Event | None = None) -> bool:
        """Wait up to `max_wait` seconds for a slot. False if none came in time, or once
        `cancelled` is set."""
        cancelled = cancelled or threading.Event()
        deadline = time.monotonic() + max_wait
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return True
            if wait * 1000 > self.interval_ms:
                # A consulta is out: its answer may free the slot any moment; look again soon.
                wait = min(wait, HELD_POLL)
            if time.monotonic() + wait > deadline:
                return False
            if cancelled.wait(wait):
                return False

    def wait_for_slot(
        self, max_wait: float, cancelled: threading.Event | None = None
    ) -> Callable[[], None]:
        """A pacer for CensusClient: block until a slot is ours and return its `release`
        (called when the consulta is over), or raise NoSlotError; a cancelled lookup stops
        waiting at once (LookupCancelled)."""
        if not self.acquire(max_wait, cancelled):
            if cancelled is not None and cancelled.is_set():
                raise SlotWaitCancelled(
                    "the lookup was cancelled while it waited for a rate slot",
                    retry_after=self.seconds_until_free(),
                )
            raise NoSlotError(
                f"no lookup slot within {max_wait:g}s", retry_after=self.seconds_until_free()
            )
        return self.release

    def seconds_until_free(self) -> float:
        return max(self.client.pttl(self.key), 0) / 1000.0


# Compare-and-set: only the holder shortens its slot to `interval` from now.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
HELD_POLL = 0.1  # seconds between looks at a slot whose consulta is out
