"""Alerts for on-call: one function to raise them, one task to deliver them.

`raise_alert` logs at once (so nothing is silent even if delivery fails), de-duplicates by key in
Redis (an incident pages once per ALERT_DEDUP_SECONDS), records the alert, and hands delivery to
a task on the `default` queue: never from a request or the scraping worker's hot path.
"""

import logging

import redis
from django.conf import settings
from django.core.mail import mail_admins
from django.db import models, transaction
from django.utils import timezone

from pipeline import dispatch
from project.connections import redis_client
from project.redaction import mask_cedulas, redact

from .models import Alert

logger = logging.getLogger("ops.alerts")


def raise_alert(key: str, title: str, body: str) -> bool:
    """Alert on-call about `key`. Returns False when the same key already alerted recently.
    A title never carries a cédula (it travels to chat and pagers); the body shows the last 3
    digits of one."""
    title, body = redact(title, cedulas=True), mask_cedulas(body)
    logger.error("ALERT %s: %s — %s", key, title, body)
    try:
        first = redis_client().set(
            f"alerts:dedup:{key}", "1", nx=True, ex=settings.ALERT_DEDUP_SECONDS
        )
    except redis.RedisError:
        first = True  # better a duplicate page than a silent incident
    if not first:
        logger.info("alert %s already raised within the dedup window", key)
        return False
    alert = Alert.objects.create(key=key, title=title[:200], body=body)
    transaction.on_commit(lambda: dispatch.publish_alert_delivery(alert.pk))
    return True


NO_CHANNEL = "no channel configured (set ALERT_URLS or ADMINS)"


def channels_configured() -> bool:
    return bool(settings.ALERT_URLS or settings.ADMINS)


def resolve_alerts(*kinds: str) -> int:
    """Mark the open alerts of these kinds resolved (what they reported is over)."""
    query = models.Q()
    for kind in kinds:
        query |= models.Q(key=kind) | models.Q(key__startswith=f"{kind}:")
    return Alert.objects.filter(query, resolved_at__isnull=True).update(resolved_at=timezone.now())


def deliver(alert: Alert) -> None:
    """Send one alert through apprise (ALERT_URLS) and to ADMINS by mail; raise
    `AlertNotDelivered` when a channel failed (the failure is recorded first). Delivered
    means every configured channel took it; with no channel it is never stamped delivered."""
    if not channels_configured():
        # Nobody was told: say so (on /ops/ and in the admin), never stamp it delivered.
        alert.delivery_error = NO_CHANNEL
        alert.save(update_fields=["delivery_error"])
        logger.warning("alert %s not delivered: %s", alert.key, NO_CHANNEL)
        return
    errors = []
    if settings.ALERT_URLS:
        # Imported here: every process imports this module (workers, beat, web, commands),
        # and only the `default` worker's delivery task needs apprise (30 ms of each start).
        import apprise

        notifier = apprise.Apprise()
        for url in settings.ALERT_URLS:
            notifier.add(url)
        if not notifier.notify(title=f"[cedula-verify] {alert.title}", body=alert.body):
            errors.append("apprise: at least one URL failed")
    if settings.ADMINS:
        try:
            mail_admins(alert.title, alert.body, fail_silently=False)
        except Exception as exc:  # SMTP errors vary; record them, the log has the alert anyway
            errors.append(f"mail: {type(exc).__name__}")
    alert.delivery_attempts += 1
    alert.delivery_error = "; ".join(errors)[:300]
    if not errors:
        alert.delivered_at = timezone.now()
    alert.save(update_fields=["delivered_at", "delivery_error", "delivery_attempts"])
    if errors:
        logger.error(
            "alert %s delivery %d failed: %s",
            alert.key,
            alert.delivery_attempts,
            alert.delivery_error,
        )
        # Not delivered: the task tries again with backoff (a page must not be lost to a
        # webhook's bad minute). Every channel is tried again: a duplicate beats a silence.
        raise AlertNotDelivered(alert.delivery_error)


class AlertNotDelivered(Exception):
    """At least one channel refused the alert; the delivery task retries it."""


def undelivered(limit: int = 10):
    """Alerts whose delivery failed (for the ops dashboard), newest first."""
    pending = Alert.objects.filter(delivered_at__isnull=True, delivery_attempts__gt=0)
    return pending.count(), list(pending[:limit])
