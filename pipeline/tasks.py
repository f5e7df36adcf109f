"""Every Celery task of the product, thin: each calls one function of the pipeline or ops.

Nothing in the product imports this module (tests/test_layers.py): work is published by name
through pipeline.dispatch, which also holds the names given here and the queues they run on.
"""

import logging
import time

from celery import Task, shared_task
from celery.exceptions import Ignore, Reject
from django.conf import settings

from ops import alerts, canary, monitoring
from ops.models import Alert
from referrals import subjects
from scraping.errors import RETRYABLE_ERRORS

from . import captcha_pool, dispatch, sweep, verification, webhook_delivery

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
        return while_broker_away(
            lambda: super(VerificationTask, self).retry(
                args, kwargs, exc, throw, eta, countdown, max_retries, **options
            )
        )


# How long a task keeps trying to publish its retry or deferral while Redis is away (a restart,
# a failover) before it gives the referral to the stale sweep (fail_referral leaves it in flight).
BROKER_OUTAGE_PATIENCE = 60.0


def while_broker_away(publish):
    """Run `publish` (a retry or a re-publish), trying again while the broker is unreachable."""
    deadline = time.monotonic() + BROKER_OUTAGE_PATIENCE
    while True:
        try:
            return publish()
        except (Reject, *verification.BROKER_ERRORS) as exc:
            reason = exc.reason if isinstance(exc, Reject) else exc
            if not isinstance(reason, verification.BROKER_ERRORS):
                raise
            if time.monotonic() >= deadline:
                raise
            logger.warning("broker unavailable (%s); publishing again in 2 s", reason)
            time.sleep(2)


@shared_task(
    name=dispatch.VERIFY_REFERRAL,
    bind=True,
    base=VerificationTask,
    # Only errors that a later try can fix; "not found" is a result and a bot block is final.
    autoretry_for=RETRYABLE_ERRORS,
    max_retries=settings.SCRAPING_MAX_RETRIES,
    retry_backoff=5,
    retry_backoff_max=settings.SCRAPING_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    rate_limit=settings.SCRAPING_RATE_LIMIT,
    # The worker's own limits: messages are sent by name and carry none (pipeline.dispatch).
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
        countdown = deferred.countdown
        while_broker_away(
            lambda: self.apply_async(
                (referral_id,),
                countdown=countdown,
                task_id=self.request.id,
                retries=self.request.retries,
            )
        )
        raise Ignore() from None
    except RETRYABLE_ERRORS as exc:
        outcome = f"retry: {type(exc).__name__}"
        raise
    finally:
        duration_ms = round((time.monotonic() - started) * 1000)
        logger.info("verify end", extra={**log, "outcome": outcome, "duration_ms": duration_ms})


@shared_task(
    name=dispatch.DELIVER_ALERT,
    acks_late=True,
    autoretry_for=(Exception,),
    # About 1 h of tries (10 s, 20 s, ... 10 min, with jitter), then the alert stays on /ops/.
    max_retries=10,
    retry_backoff=10,
    retry_backoff_max=600,
)
def deliver_alert(alert_id: int) -> None:
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is not None and alert.delivered_at is None:
        alerts.deliver(alert)


@shared_task(name=dispatch.SWEEP_STALE_REFERRALS)
def sweep_stale_referrals() -> dict:
    return sweep.sweep_stale_referrals().as_dict()


@shared_task(name=dispatch.CHECK_FAILURE_RATE)
def check_failure_rate() -> str:
    return monitoring.check_failure_rate()


@shared_task(name=dispatch.CHECK_CIRCUIT)
def check_circuit() -> str:
    return monitoring.check_circuit()


@shared_task(
    name=dispatch.PROBE_CENSUS_SOURCES,
    ignore_result=True,
    time_limit=settings.SCRAPING_TASK_TIME_LIMIT,
    soft_time_limit=settings.SCRAPING_TASK_SOFT_TIME_LIMIT,
)
def probe_census_sources() -> list:
    # Runs on the scraping worker: its browser loads each page (never a consulta, no captcha).
    return canary.run()


@shared_task(name=dispatch.BEAT_HEARTBEAT)
def beat_heartbeat() -> None:
    # Written by whichever default worker runs it: a fresh value means beat and the default
    # queue are both alive (entries expire, so a stale beat cannot fake it later).
    monitoring.record_heartbeat(time.time())


# The captcha token pool. Results are not stored: beat runs the top-up every few seconds, and
# the pool's own counters (ops dashboard) say what the solves did.
@shared_task(name=dispatch.TOP_UP_CAPTCHA_POOL, ignore_result=True)
def top_up_captcha_pool() -> dict:
    return captcha_pool.top_up().as_dict()


@shared_task(name=dispatch.SOLVE_CAPTCHA_TOKEN, ignore_result=True)
def solve_captcha_token(solve_id: str, floor: bool = False) -> str:
    return captcha_pool.solve_for_pool(solve_id, floor)


@shared_task(name=dispatch.CHECK_CAPTCHA_SPEND)
def check_captcha_spend() -> dict:
    return captcha_pool.check_spend()


# Webhooks: one attempt per message (the delivery schedules its own retries, see
# pipeline.webhook_delivery); acks_late so an attempt lost with its worker is redelivered.
@shared_task(name=dispatch.DELIVER_WEBHOOK, acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> str:
    return webhook_delivery.deliver(delivery_id)


@shared_task(name=dispatch.SWEEP_WEBHOOKS, ignore_result=True)
def sweep_webhooks() -> int:
    return webhook_delivery.publish_due_deliveries()


@shared_task(name=dispatch.PURGE_PERSONAL_DATA, ignore_result=True)
def purge_personal_data() -> dict:
    """Retention (DATA_RETENTION_DAYS, IMPORT_ROWS_RETENTION_DAYS): returns the counts."""
    return subjects.purge_expired()
