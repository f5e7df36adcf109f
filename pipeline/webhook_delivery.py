"""Delivering one webhook event: one signed POST per attempt, retried on a schedule.

Each attempt first claims the delivery with a conditional UPDATE (due, still pending): a
duplicate message, or beat's sweep of due deliveries, finds nothing to claim. The claim pushes
`next_attempt_at` one lease ahead, so an attempt lost with its worker is taken up again by the
sweep. Retries follow WEBHOOK_RETRY_SCHEDULE (about a day in total, as Standard Webhooks
senders do); a short wait is a countdown on the message, a long one waits in the database for
the sweep, never as a Redis ETA longer than the broker's visibility timeout (a long-ETA
message would be redelivered while it waits). An endpoint failing without a success for
WEBHOOK_DISABLE_AFTER is disabled and its owner (and on-call) told.
"""

import json
import logging
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ops.alerts import raise_alert
from webhooks import services as webhook_services
from webhooks import signing
from webhooks.addresses import UnsafeURL, check_url
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

from . import dispatch

logger = logging.getLogger(__name__)

# Retries shorter than this go out as a countdown on the message; longer ones wait for the
# sweep (every WEBHOOK_SWEEP_EVERY), far below the broker's visibility timeout.
COUNTDOWN_MAX = 120


def deliver(delivery_id: int) -> str:
    """One attempt at delivery `delivery_id`: 'delivered', 'retry', 'failed' or 'skipped'."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
    ).update(
        attempts=F("attempts") + 1,
        next_attempt_at=now + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60),
    )
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        _close(delivery, WebhookDelivery.State.FAILED)
        return "failed"
    status_code, error, duration_ms = _post(delivery, endpoint)
    ok = status_code is not None and 200 <= status_code < 300
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        duration_ms=duration_ms,
        status_code=status_code,
        ok=ok,
        error=error[:300],
    )
    if ok:
        # One transaction: whoever sees the delivery delivered also sees the endpoint healthy.
        with transaction.atomic():
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
            _close(delivery, WebhookDelivery.State.DELIVERED)
        return "delivered"
    return _failed_attempt(delivery, endpoint, error or f"HTTP {status_code}")


def _post(delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> tuple[int | None, str, int]:
    body = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signing.headers(endpoint.secret, delivery.event_id, int(time.time()), body)
    headers["user-agent"] = "cedula-verify-webhooks/1"
    started = time.monotonic()
    try:
        check_url(endpoint.url)
        response = httpx.post(
            endpoint.url,
            content=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            follow_redirects=False,  # a redirect could point anywhere, the checks above aside
        )
        status, error = response.status_code, ""
    except UnsafeURL as exc:
        status, error = None, f"refused: {exc}"
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"
    return status, error, round((time.monotonic() - started) * 1000)


def _close(delivery: WebhookDelivery, state: str) -> None:
    fields = {"state": state, "next_attempt_at": None}
    if state == WebhookDelivery.State.DELIVERED:
        fields["delivered_at"] = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)


def _failed_attempt(delivery: WebhookDelivery, endpoint: WebhookEndpoint, error: str) -> str:
    now = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(
        failing_since=now
    )
    endpoint.refresh_from_db(fields=["failing_since"])
    if now - endpoint.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER):
        _disable(endpoint, error)
        return "failed"
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if delivery.attempts > len(schedule):
        _close(delivery, WebhookDelivery.State.FAILED)
        return "failed"
    wait = schedule[delivery.attempts - 1]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=now + timedelta(seconds=wait)
    )
    if wait <= COUNTDOWN_MAX:
        dispatch.publish_webhook_delivery(delivery.pk, countdown=wait)
    return "retry"


def _disable(endpoint: WebhookEndpoint, error: str) -> None:
    reason = f"failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC; last: {error}"
    if not webhook_services.disable_endpoint(endpoint.pk, reason):
        return
    owner = endpoint.owner
    body = (
        f"Webhook endpoint {endpoint.url} was disabled after failing without a success since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC (last error: {error}). Fix it and enable "
        f"it again at {settings.SITE_URL}/integraciones/."
    )
    if owner.email:
        try:
            send_mail("[cedula-verify] Webhook desactivado", body, None, [owner.email])
        except Exception:  # SMTP errors vary; the alert below and the page still tell
            logger.exception("could not mail the owner of webhook endpoint %s", endpoint.pk)
    raise_alert(f"webhook-disabled:{endpoint.pk}", "Webhook desactivado", body)


def publish_due_deliveries(limit: int = 500) -> int:
    """Beat's sweep: publish every pending delivery whose next attempt is due (long retries,
    and attempts lost with their worker)."""
    due = list(
        WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        dispatch.publish_webhook_delivery(delivery_id)
    return len(due)
