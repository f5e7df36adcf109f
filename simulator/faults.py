"""The simulator's fault model: named faults, each armed for a count, a time, or until reset."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

# name → what it does while armed (params in brackets; `target` is "consulta" (default),
# "page", "elecciones" or "all" for the HTTP-level faults; every fault but the solver's takes
# `source`: "consultacenso", "wsp" or "all" (default): which front-end it hits).
FAULTS: dict[str, str] = {
    "http_503": "answer 503 Service Unavailable [target]",
    "http_429": "answer 429 with Retry-After [retry_after=5, target]",
    "slow": "delay the answer [delay=5 s, target]",
    "hang": "never answer until the fault is cleared or the simulator reset [target]",
    "conn_reset": "drop the connection without an answer [target]",
    "markup_changed": "serve the page with renamed form ids",
    "json_changed": "answer the consulta with an unknown JSON shape",
    "bot_block": "answer the F5 block page (settings block_page, block_status) to page and "
    "API, or to `target` only when given",
    "captcha_reject": "reject every captcha token (counts as a rejection)",
    "solver_down": "solver API answers an error [error=ERROR_ZERO_BALANCE; 'HTTP_500' = 500]",
    "wsp_reload": "wsp answers {success: false, reload: true} (session or token expired)",
    "upstream_timeout": "wsp answers its 'Curl error: Operation timed out' message",
}
HTTP_FAULTS = ("http_503", "http_429", "slow", "hang", "conn_reset")


@dataclass
class Fault:
    name: str
    remaining: int | None = None  # None = no count limit
    probability: float = 1.0
    expires_at: float | None = None  # monotonic deadline; None = until cleared
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Fault:
        spec = dict(spec)
        name = spec.pop("name")
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {sorted(FAULTS)}")
        count = spec.pop("count", None)
        duration = spec.pop("duration", None)
        return cls(
            name=name,
            remaining=int(count) if count is not None else None,
            probability=float(spec.pop("probability", 1.0)),
            expires_at=time.monotonic() + float(duration) if duration is not None else None,
            params=spec,
        )

    def expired(self) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return True
        return self.expires_at is not None and time.monotonic() >= self.expires_at

    def applies_to(self, target: str) -> bool:
        wanted = self.params.get("target", "consulta")
        return wanted == "all" or wanted == target

    def applies_to_source(self, source: str) -> bool:
        wanted = self.params.get("source", "all")
        return wanted == "all" or wanted == source

    def fire(self) -> bool:
        """Does the fault hit this request? Consumes one count when it does."""
        if self.expired() or random.random() >= self.probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True

    def to_json(self) -> dict[str, Any]:
        left = None if self.expires_at is None else max(0.0, self.expires_at - time.monotonic())
        return {
            "name": self.name,
            "remaining": self.remaining,
            "probability": self.probability,
            "seconds_left": left,
            "params": self.params,
        }
