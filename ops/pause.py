"""Is verification paused, why, and until when: one answer for the portal's banner, /ops/ and
/healthz/pipeline.

Verification is paused while the circuit breaker of every census source is open for this egress
address (a bot block or repeated failures on each: nobody touches the sites until a cool-down
ends; while one source works, lookups simply use it) or while the captcha solver
is unavailable (captcha_pool.PAUSE_KEY: no balance, bad key...). Work is not lost meanwhile: the
lookups wait and resume by themselves.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.utils import timezone
from django.utils.formats import time_format
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from pipeline import captcha_pool
from pipeline.egress import source_states
from scraping.circuit import CircuitState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pause:
    cause: str  # "circuit" or "solver"
    detail: str  # for ops: the (preferred source's) breaker's or the solver's own words
    until: float | None  # epoch seconds when work resumes by itself, if known

    @property
    def reason(self) -> str:
        """What a campaign leader reads: plain words, no jargon."""
        if self.cause == "solver":
            return _(
                "El servicio que resuelve los captchas de la Registraduría no está disponible."
            )
        if self.detail.startswith("bot block"):
            return _("La Registraduría bloqueó nuestras consultas por un tiempo.")
        return _("La página de la Registraduría está fallando repetidamente.")

    @property
    def until_local(self) -> datetime | None:
        if self.until is None:
            return None
        return timezone.localtime(datetime.fromtimestamp(self.until, tz=UTC))

    @property
    def retry_text(self) -> str:
        when = self.until_local
        if when is None or self.until <= time.time():
            return _("Estamos probando si ya podemos continuar.")
        return _("Volveremos a intentarlo hacia las %(time)s.") % {"time": time_format(when, "H:i")}


def verification_pause() -> Pause | None:
    """The pause in force, the circuits first (they stop everything), or None."""
    states = [status for _, status in source_states()]
    if all(status.state is not CircuitState.CLOSED for status in states):
        first = states[0]
        if any(status.state is CircuitState.HALF_OPEN for status in states):
            return Pause("circuit", first.reason, None)  # a probe is on its way
        return Pause("circuit", first.reason, min(status.open_until for status in states))
    solver = captcha_pool.solver_state()
    if solver["paused"]:
        return Pause("solver", solver["last_error"], solver["paused_until"])
    return None


def _pause_or_none() -> Pause | None:
    try:
        return verification_pause()
    except redis.RedisError:
        logger.warning("verification pause unknown: Redis does not answer")
        return None


def context(request) -> dict:
    """Template context processor: `verification_pause`, asked of Redis only by the templates
    that show it (the list, detail and batch pages), for signed-in users."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"verification_pause": SimpleLazyObject(_pause_or_none)}
