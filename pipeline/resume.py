"""Resuming by hand: once ops fixed the cause of a pause, they need not wait out the cool-down.

`probe_now` ends the circuit's cool-down (half-open) and sends one lookup at once: it is the
probe, and its answer decides (success closes the circuit and resumes everything, a new block
opens it for another cool-down). `close_now` closes it outright. Both are audited: a log line
and an alert naming who did it. Used by /ops/ ("probar ahora") and `manage.py circuit`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ops.alerts import raise_alert, resolve_alerts
from project.connections import redis_client
from referrals.models import Referral, Status
from referrals.services import requeue_referrals

from . import dispatch
from .egress import circuit_breaker, source_key

logger = logging.getLogger(__name__)

WAITING = (Status.PENDING, Status.RETRYING)


@dataclass(frozen=True)
class Resumed:
    action: str  # "probe" or "close"
    was_open: bool
    probe_referral: int | None = None


def circuit_keys() -> list[str]:
    """The egress addresses (limiter keys) that have a circuit open or half-open now."""
    keys = []
    for raw in redis_client().scan_iter(match="scraping:circuit:*:open"):
        name = raw.decode()
        keys.append(name[len("scraping:circuit:") : -len(":open")])
    return sorted(keys)


def _probe_referral() -> int | None:
    """The lookup to send as the probe: the longest-waiting referral; else a blocked one (it is
    put back in the queue, as the admin's re-verify would)."""
    waiting = Referral.objects.filter(status__in=WAITING).order_by("updated_at").first()
    if waiting is not None:
        dispatch.publish_verification(waiting.pk)
        return waiting.pk
    blocked = Referral.objects.filter(status=Status.BLOCKED).order_by("updated_at")[:1]
    ids = list(blocked.values_list("pk", flat=True))
    if ids:
        requeue_referrals(Referral.objects.filter(pk__in=ids))
        return ids[0]
    return None


def probe_now(actor: str, limiter_key: str | None = None) -> Resumed:
    breaker = circuit_breaker(limiter_key)
    if not breaker.half_open_now(f"probe by {actor}"):
        return Resumed("probe", was_open=False)
    referral_id = _probe_referral()
    _audit(
        actor,
        "probe",
        f"{actor} ended the circuit's cool-down by hand ({limiter_key or source_key()}); "
        + (
            f"probe lookup: referral {referral_id}."
            if referral_id
            else "no referral waits: the next lookup is the probe."
        ),
    )
    return Resumed("probe", was_open=True, probe_referral=referral_id)


def close_now(actor: str, limiter_key: str | None = None) -> Resumed:
    breaker = circuit_breaker(limiter_key)
    was_open = breaker.status().state != "closed"
    breaker.reset()
    if was_open:
        resolve_alerts("circuit-open")
        _audit(actor, "close", f"{actor} closed the circuit by hand; lookups resume at once.")
    return Resumed("close", was_open=was_open)


def _audit(actor: str, action: str, body: str) -> None:
    logger.warning("circuit %s by hand: %s", action, body)
    raise_alert(
        f"circuit-by-hand:{int(time.time() * 1000)}",
        "Circuito reanudado a mano" if action == "close" else "Circuito: prueba a mano",
        body,
    )
    resolve_alerts("circuit-by-hand")  # a record, not an incident
