"""Verifying one referral: claim it, look it up, store the outcome.

Until the scraping client lands, the lookup is not configured: the referral ends `failed` with
that message, never with a made-up result.
"""

import logging

from django.db.models import F
from django.utils import timezone

from .models import Referral, Status

logger = logging.getLogger(__name__)


class ScraperNotConfigured(RuntimeError):
    pass


def lookup_cedula(cedula: str):
    raise ScraperNotConfigured("El verificador del censo aún no está configurado.")


def claim_referral(referral_id: int, holder: str) -> bool:
    """Mark the referral `verifying` for `holder`, only if nobody else holds it."""
    now = timezone.now()
    claimed = Referral.objects.filter(
        pk=referral_id, status__in=[Status.PENDING, Status.RETRYING]
    ).update(
        status=Status.VERIFYING,
        claimed_by=holder,
        claimed_at=now,
        last_attempt_at=now,
        attempts=F("attempts") + 1,
    )
    return bool(claimed)


def verify_referral(referral_id: int, holder: str) -> str:
    if not claim_referral(referral_id, holder):
        logger.info("referral %s is not claimable; skipping", referral_id)
        return "skipped"
    referral = Referral.objects.get(pk=referral_id)
    try:
        lookup_cedula(referral.cedula)
    except ScraperNotConfigured as exc:
        Referral.objects.filter(pk=referral_id).update(
            status=Status.FAILED,
            last_error=str(exc),
            finished_at=timezone.now(),
            claimed_by="",
            claimed_at=None,
        )
        return Status.FAILED
    raise AssertionError("unreachable until the scraper is wired")
