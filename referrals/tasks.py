"""Celery tasks: thin wrappers over the services. Routing lives in CELERY_TASK_ROUTES."""

import logging
import time

from celery import Task, shared_task
from celery.exceptions import Ignore
from django.conf import settings

from scraping.errors import RETRYABLE_ERRORS

from . import alerts, captcha_pool, monitoring, sweep, verification
from .models import Alert

logger = logging.getLogger(__name__)


class VerificationTask(Task):
    """Retries honour the site's Retry-After (bounded) instead of the exponential backoff."""

    def retry(
        self,
        args=None,
        kwargs=None,
        exc=None,
        throw=True,
        eta=None,
        countdown=None,
        max_retries=None,
        **options,
    ):
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            countdown = min(float(retry_after), settings.SCRAPING_RETRY_BACKOFF_MAX)
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)


@shared_task(
    bind=True,
    base=VerificationTask,
    # Only errors that a later try can fix; "not found" is a result and a bot block is final.
    autoretry_for=RETRYABLE_ERRORS,
    max_retries=settings.SCRAPING_MAX_RETRIES,
    retry_backoff=5,
    retry_backoff_max=settings.SCRAPING_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    rate_limit=settings.SCRAPING_RATE_LIMIT,
    # Note: the publisher's limits travel in each message and win over the worker's; web and
    # workers must share these settings (they do: one environment).
    time_limit=settings.SCRAPING_TASK_TIME_LIMIT,
    soft_time_limit=settings.SCRAPING_TASK_SOFT_TIME_LIMIT,
    # Ack after the run; a run lost with its worker is sent again, counted against max_retries
    # (retry_on_worker_lost) so a referral that kills its worker every time cannot loop forever.
    acks_late=True,
    reject_on_worker_lost=True,
    retry_on_worker_lost=True,
    default_retry_delay=10,
)
def verify_referral(self, referral_id: int) -> str:
    log = {"task_id": self.request.id, "referral_id": referral_id, "retry": self.request.retries}
    logger.info("verify start", extra=log)
    started = time.monotonic()
    outcome = "error"
    try:
        outcome = verification.verify_referral(referral_id, holder=self.request.id or "")
        return outcome
    except verification.Deferred as deferred:
        outcome = f"deferred {deferred.countdown:.1f}s: {deferred.reason}"
        # Not a failure and not a retry: the same run, later, keeping its retry count.
        self.apply_async(
            (referral_id,),
            countdown=deferred.countdown,
            task_id=self.request.id,
            retries=self.request.retries,
        )
        raise Ignore() from None
    except RETRYABLE_ERRORS as exc:
        outcome = f"retry: {type(exc).__name__}"
        raise
    finally:
        duration_ms = round((time.monotonic() - started) * 1000)
        logger.info("verify end", extra={**log, "outcome": outcome, "duration_ms": duration_ms})


@shared_task(acks_late=True, autoretry_for=(Exception,), max_retries=5, retry_backoff=10)
def deliver_alert(alert_id: int) -> None:
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is not None and alert.delivered_at is None:
        alerts.deliver(alert)


@shared_task
def sweep_stale_referrals() -> dict:
    return sweep.sweep_stale_referrals().as_dict()


@shared_task
def check_failure_rate() -> str:
    return monitoring.check_failure_rate()


@shared_task
def beat_heartbeat() -> None:
    # Written by whichever default worker runs it: a fresh value means beat and the default
    # queue are both alive (entries expire, so a stale beat cannot fake it later).
    monitoring.record_heartbeat(time.time())


# The captcha token pool. Results are not stored: beat runs the top-up every few seconds, and
# the pool's own counters (ops dashboard) say what the solves did.
@shared_task(ignore_result=True)
def top_up_captcha_pool() -> dict:
    return captcha_pool.top_up().as_dict()


@shared_task(ignore_result=True)
def solve_captcha_token(solve_id: str) -> str:
    return captcha_pool.solve_for_pool(solve_id)


@shared_task
def check_captcha_spend() -> dict:
    return captcha_pool.check_spend()
