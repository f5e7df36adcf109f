"""The stale sweep (a beat job): no referral may stay in flight without work behind it.

A referral in flight that made no progress for STALE_AFTER and has no task in the broker lost
its work (Redis restarted without persistence, a publish failed, a message expired). It is
re-queued through the normal on-commit path, at most STALE_MAX_REQUEUES times; after that it is
flagged "delayed", ended `failed` with a message saying so, and reported to on-call in one
digest per sweep, once per referral (ops re-verify it: admin action or requeue_referrals).

A referral whose task is still queued is a backlog, not lost work; but if nothing at all has
been attempted for STALE_AFTER while such referrals wait, the scraping workers are not working:
that is alerted too.
"""

import contextlib
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import LockError

from ops.alerts import raise_alert
from project.connections import redis_client
from referrals.models import Referral, ScrapeAttempt, Status
from referrals.services import enqueue_verification

from . import broker
from .egress import all_sources_open
from .verification import run_is_live

logger = logging.getLogger(__name__)

DIGEST_IDS = 10
DELAYED_MESSAGE = (
    "La verificación se demoró demasiado y se detuvo. Nuestro equipo fue alertado y la "
    "verificará de nuevo."
)


@dataclass
class SweepReport:
    requeued: list[int]
    flagged: list[int]
    waiting: int  # old, but their task is still queued

    def as_dict(self) -> dict:
        return {"requeued": self.requeued, "flagged": self.flagged, "waiting": self.waiting}


def sweep_stale_referrals() -> SweepReport:
    """One sweep at a time (two beats during a deploy would re-queue everything twice)."""
    lock = redis_client().lock(
        "pipeline:stale-sweep", timeout=max(60, settings.STALE_SWEEP_EVERY), blocking=False
    )
    if not lock.acquire():
        logger.info("another stale sweep is running; skipping this one")
        return SweepReport([], [], 0)
    try:
        return _sweep()
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def _sweep() -> SweepReport:
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.STALE_AFTER)
    stale = Referral.objects.filter(
        status__in=Status.in_flight(), updated_at__lt=cutoff, stale_flagged_at__isnull=True
    )
    stale_ids = set(stale.values_list("pk", flat=True))
    if not stale_ids:
        return SweepReport([], [], 0)

    alive = broker.referral_ids_with_tasks() & stale_ids
    lost = stale.exclude(pk__in=alive)
    requeue = list(
        lost.filter(requeue_count__lt=settings.STALE_MAX_REQUEUES).values_list("pk", flat=True)
    )
    give_up = list(
        lost.filter(requeue_count__gte=settings.STALE_MAX_REQUEUES).values_list("pk", flat=True)
    )
    seen_claims = dict(stale.filter(pk__in=requeue).values_list("pk", "claimed_by"))
    requeue = [i for i in requeue if not run_is_live(i)]
    give_up = [i for i in give_up if not run_is_live(i)]
    with transaction.atomic():
        # Status back to pending: a `verifying` referral here belongs to a run that is gone.
        # Each update is conditional on what was read: a run that claimed the referral since
        # (new holder, fresh updated_at) keeps it, and its answer is stored.
        requeued = []
        for referral_id in requeue:
            if still_stale(referral_id, cutoff, seen_claims.get(referral_id)).update(
                status=Status.PENDING,
                claimed_by="",
                claimed_at=None,
                requeue_count=F("requeue_count") + 1,
                updated_at=now,
            ):
                enqueue_verification(referral_id)
                requeued.append(referral_id)
        requeue = requeued
        # Lost again and again: a final state the user can read, flagged for ops (the digest
        # below, the dashboard, the admin filter); "verify again" gives it a fresh start.
        Referral.objects.filter(
            pk__in=give_up,
            status__in=Status.in_flight(),
            updated_at__lt=cutoff,
            stale_flagged_at__isnull=True,
        ).update(
            status=Status.FAILED,
            last_error=DELAYED_MESSAGE,
            stale_flagged_at=now,
            finished_at=now,
            claimed_by="",
            claimed_at=None,
            updated_at=now,
        )

    if requeue:
        logger.warning("stale sweep re-queued %d referrals: %s", len(requeue), requeue[:DIGEST_IDS])
    if give_up:
        _send_digest(give_up, now)
    if alive:
        _check_progress(len(alive), cutoff)
    return SweepReport(requeue, give_up, len(alive))


def still_stale(referral_id: int, cutoff, claimed_by: str | None):
    return Referral.objects.filter(
        pk=referral_id,
        status__in=Status.in_flight(),
        updated_at__lt=cutoff,
        stale_flagged_at__isnull=True,
        claimed_by=claimed_by or "",
    )


def _send_digest(flagged_ids: list[int], now) -> None:
    oldest = Referral.objects.filter(pk__in=flagged_ids).order_by("created_at").first()
    age_min = round((now - oldest.created_at).total_seconds() / 60)
    link = f"{settings.SITE_URL}/admin/referrals/referral/?stale_flagged_at__isnull=False"
    shown = ", ".join(str(i) for i in sorted(flagged_ids)[:DIGEST_IDS])
    more = f" (+{len(flagged_ids) - DIGEST_IDS} more)" if len(flagged_ids) > DIGEST_IDS else ""
    raise_alert(
        f"stale-digest:{now.isoformat()}",
        f"{len(flagged_ids)} referidos demorados sin trabajo en cola",
        f"{len(flagged_ids)} referrals are stuck after {settings.STALE_MAX_REQUEUES} re-queues. "
        f"Oldest: {age_min} min. Ids: {shown}{more}. Admin: {link}",
    )


def _check_progress(waiting: int, cutoff) -> None:
    if ScrapeAttempt.objects.filter(started_at__gte=cutoff).exists():
        return
    if all_sources_open():
        return  # paused on purpose; the circuit's own alert said so
    raise_alert(
        "queue-stalled",
        "La cola de verificación no avanza",
        f"{waiting} referrals have waited over {settings.STALE_AFTER / 60:g} min with their "
        "task queued, and no lookup started in that time: are the scraping workers running? "
        "(Flower: queue 'scraping')",
    )
