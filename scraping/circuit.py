"""A circuit breaker shared in Redis by every scraping worker behind one egress address.

closed    → lookups go ahead. Consecutive failures are counted; a success resets the count.
open      → tripped by a bot block or N consecutive failures: nobody touches the site until
            `open_until`. Callers defer their work until then.
half-open → after the cool-down, exactly one caller (the probe) may try; success closes the
            circuit, failure opens it again for another cool-down.

`trip()` returns True only for the caller that moved it from closed to open, so one alert is
raised per opening, not per task.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from enum import StrEnum

import redis

# How soon callers that are not the probe look again while the probe runs.
HALF_OPEN_POLL = 5.0


# KEYS: open, probe, failures; ARGV: holder. 1 = closed the circuit, 0 = was closed, -1 = stays
# open (the success was not the probe's).
_RECORD_SUCCESS = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[3])
  return 0
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 1
end
return -1
"""


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class CircuitStatus:
    state: CircuitState
    open_until: float | None = None
    reason: str = ""
    opened_at: float | None = None

    @property
    def seconds_left(self) -> float:
        if self.open_until is None:
            return 0.0
        return max(0.0, self.open_until - time.time())


class CircuitBreaker:
    def __init__(
        self,
        client: redis.Redis,
        *,
        cooldown: float,
        failure_threshold: int,
        probe_lease: float,
        limiter_key: str = "direct",
    ) -> None:
        self.client = client
        self.cooldown = cooldown
        self.failure_threshold = failure_threshold
        self.probe_lease_ms = max(1, round(probe_lease * 1000))
        prefix = f"scraping:circuit:{limiter_key}"
        self.open_key = f"{prefix}:open"
        self.failures_key = f"{prefix}:failures"
        self.probe_key = f"{prefix}:probe"

    def status(self) -> CircuitStatus:
        raw = self.client.get(self.open_key)
        if raw is None:
            return CircuitStatus(CircuitState.CLOSED)
        data = json.loads(raw)
        state = CircuitState.OPEN if data["until"] > time.time() else CircuitState.HALF_OPEN
        return CircuitStatus(state, data["until"], data.get("reason", ""), data.get("opened_at"))

    def allow(self, holder: str) -> tuple[bool, float]:
        """May `holder` touch the site now? Returns (allowed, seconds to wait if not)."""
        status = self.status()
        if status.state is CircuitState.CLOSED:
            return True, 0.0
        if status.state is CircuitState.OPEN:
            return False, status.seconds_left
        # Half-open: one probe at a time; the others wait for its verdict.
        if self.client.set(self.probe_key, holder, nx=True, px=self.probe_lease_ms):
            return True, 0.0
        return (
            self.client.get(self.probe_key) or b""
        ).decode() == holder, self.probe_lease_ms / 1000

    def record_success(self, holder: str) -> bool:
        """A lookup by `holder` got an answer from the site. True if this closed an open circuit.

        Only the half-open probe's answer closes an open circuit: a lookup admitted before
        another worker behind the same address met a bot block says nothing about the block
        (it left before the block was seen), so its success resets the failure count only.
        """
        closed = self._record_success(
            keys=[self.open_key, self.probe_key, self.failures_key], args=[holder]
        )
        return closed == 1

    @property
    def _record_success(self):
        return self.client.register_script(_RECORD_SUCCESS)

    def record_failure(self, reason: str) -> bool:
        """A retryable failure (network, throttling). Trips after N in a row, or at once when
        it was the half-open probe that failed. True if this opened the circuit."""
        failures = self.client.incr(self.failures_key)
        half_open = self.status().state is CircuitState.HALF_OPEN
        if half_open or failures >= self.failure_threshold:
            return self.trip(reason)
        return False

    def trip(self, reason: str) -> bool:
        """Open the circuit for a cool-down. True only for a closed → open transition."""
        now = time.time()
        payload = json.dumps({"until": now + self.cooldown, "reason": reason, "opened_at": now})
        opened = bool(self.client.set(self.open_key, payload, nx=True))
        if not opened:
            self.client.set(self.open_key, payload, xx=True)  # a failed probe: a new cool-down
        self.client.delete(self.probe_key)
        return opened

    def reset(self) -> None:
        self.client.delete(self.open_key, self.probe_key, self.failures_key)

    def half_open_now(self, reason: str) -> bool:
        """End the cool-down now (an operator fixed the cause): the next caller is the probe,
        whose success closes the circuit and whose failure opens it for a new cool-down.
        False when the circuit was not open."""
        raw = self.client.get(self.open_key)
        if raw is None:
            return False
        data = json.loads(raw)
        data.update(until=time.time(), reason=f"{data.get('reason', '')} · {reason}".strip(" ·"))
        self.client.set(self.open_key, json.dumps(data), xx=True)
        self.client.delete(self.probe_key)
        return True
