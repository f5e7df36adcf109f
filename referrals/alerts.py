"""Alerts for on-call: one function to raise them, one task to deliver them.

`raise_alert` logs at once (so nothing is silent even if delivery fails), de-duplicates by key in
Redis (an incident pages once per ALERT_DEDUP_SECONDS), records the alert, and hands delivery to
a task on the `default` queue: never from a request or the scraping worker's hot path.
"""

import logging

import apprise
import redis
from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from .connections import redis_client
from .models import Alert

logger = logging.getLogger("referrals.alerts")


def raise_alert(key: str, title: str, body: str) -> bool:
    """Alert on-call about `key`. Returns False when the same key already alerted recently."""
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
    from .tasks import deliver_alert

    transaction.on_commit(lambda: deliver_alert.delay(alert.pk))
    return True


def deliver(alert: Alert) -> None:
    """Send one alert through apprise (ALERT_URLS) and to ADMINS by mail."""
    errors = []
    if settings.ALERT_URLS:
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
    alert.delivered_at = timezone.now()
    alert.delivery_error = "; ".join(errors)[:300]
    alert.save(update_fields=["delivered_at", "delivery_error"])
    if errors:
        logger.error("alert %s delivery problems: %s", alert.key, alert.delivery_error)
