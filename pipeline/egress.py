"""This worker's egress address towards each census source: its polite rate and its circuit
breaker.

Both live in Redis under the source's key (`settings.SCRAPING.source_key(source)`,
`<egress>@<source>`: the egress address, `limiter_key`, and the census source, each its own
host), so every worker leaving through the same address shares one rate and one circuit per
source, and the two census pages (different hosts) judge us each on their own: a block on one
leaves the other's rate and circuit alone.
"""

import logging
import time

from django.conf import settings

from project.connections import redis_client
from scraping.circuit import CircuitBreaker, CircuitState, CircuitStatus
from scraping.ratelimit import RateSlots

logger = logging.getLogger(__name__)

# Egress addresses by the last time one of their consultas left (sorted set, epoch seconds).
LANES_KEY = "scraping:lanes"


def sources() -> tuple[str, ...]:
    """The census sources, most preferred first (CENSUS_SOURCES)."""
    return settings.SCRAPING.sources


def source_key(source: str | None = None) -> str:
    return settings.SCRAPING.source_key(source or sources()[0])


def rate_slots(source: str | None = None) -> RateSlots:
    # A slot is held while its consulta is out, at most as long as the client waits for the
    # answer (plus a margin): then the next frees SCRAPING_MIN_INTERVAL after that answer.
    return RateSlots(
        redis_client(),
        settings.SCRAPING_MIN_INTERVAL,
        source_key(source),
        hold=settings.SCRAPING.api_timeout + 5,
    )


def circuit_breaker(limiter_key: str | None = None) -> CircuitBreaker:
    """The circuit breaker of a key (`manage.py circuit --key`), by default the preferred
    source's from this worker's egress address."""
    return CircuitBreaker(
        redis_client(),
        cooldown=settings.CIRCUIT_COOLDOWN,
        failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
        probe_lease=settings.SCRAPING_CLAIM_LEASE,
        limiter_key=limiter_key or source_key(),
    )


def source_breaker(source: str) -> CircuitBreaker:
    return circuit_breaker(source_key(source))


def source_states() -> list[tuple[str, CircuitStatus]]:
    """Each source's circuit, in the order of preference."""
    return [(source, source_breaker(source).status()) for source in sources()]


def lanes_at_work() -> int:
    """Egress addresses that sent a consulta (any source) within the last three polite
    intervals, at least 1: their rates add up to what the captcha pool must keep up with."""
    client = redis_client()
    since = time.time() - 3 * settings.SCRAPING_MIN_INTERVAL
    client.zremrangebyscore(LANES_KEY, "-inf", since)
    return max(1, client.zcard(LANES_KEY))


def all_sources_open() -> bool:
    """No source can be asked now: every circuit is open (half-open lets its probe through)."""
    return all(status.state is CircuitState.OPEN for _, status in source_states())


def pace_submission(cancelled=None, source: str | None = None):
    """The census client's pacer: runs on the browser thread right before each consulta and
    returns the slot's release, which the client calls when the consulta is over; a cancelled
    lookup (the run's soft time limit) stops waiting for its slot at once. Each source (host)
    has its own polite rate."""
    release = rate_slots(source).wait_for_slot(settings.SCRAPING_SLOT_MAX_WAIT, cancelled)
    try:  # bookkeeping for the captcha pool's sizing: never a reason to hold the consulta
        redis_client().zadd(LANES_KEY, {settings.SCRAPING.limiter_key: time.time()})
    except Exception:
        logger.warning("could not record this egress lane as at work", exc_info=True)
    return release
