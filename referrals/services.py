"""Domain logic for referrals. Views, tasks, the admin and commands call these functions.

The rule that matters most here: a referral is saved and its verification is *published after
the transaction commits*, never before (a worker would look for a row it cannot see yet) and
never from a request's own thread of work (no network or browser work in a request).
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .cedula import normalize_cedula
from .models import Referral, Status

logger = logging.getLogger(__name__)


class AlreadyRegistered(Exception):
    """The cédula was referred before (by anyone: we do not say by whom)."""


def create_referral(*, user, cedula: str, full_name: str = "") -> Referral:
    """Save a referral for `user` and queue its verification once the transaction commits.

    Raises InvalidCedula for text that cannot be a cédula and AlreadyRegistered for a cédula
    that any user referred before.
    """
    cedula = normalize_cedula(cedula)
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                cedula=cedula, full_name=full_name.strip(), referred_by=user
            )
            enqueue_verification(referral.pk)
    except IntegrityError as exc:
        if Referral.objects.filter(cedula=cedula).exists():
            raise AlreadyRegistered(cedula) from exc
        raise
    return referral


def enqueue_verification(referral_id: int) -> None:
    """Publish the verification task when the surrounding transaction commits."""
    transaction.on_commit(lambda: publish_verification(referral_id))


def publish_verification(referral_id: int) -> None:
    """Send the task to the broker now. A broker outage is logged, not raised: the row is
    committed and stays pending, and the stale sweep publishes it again later."""
    from .tasks import verify_referral

    try:
        verify_referral.delay(referral_id)
    except Exception:  # kombu's errors differ by transport; none may fail the request
        logger.exception("could not publish verification of referral %s", referral_id)


def requeue_referrals(queryset) -> int:
    """Put final or stuck referrals back in the queue (admin action, ops command)."""
    with transaction.atomic():
        ids = list(queryset.values_list("pk", flat=True))
        Referral.objects.filter(pk__in=ids).update(
            status=Status.PENDING,
            last_error="",
            claimed_by="",
            claimed_at=None,
            finished_at=None,
            stale_flagged_at=None,
            updated_at=timezone.now(),
        )
        for referral_id in ids:
            enqueue_verification(referral_id)
    return len(ids)
