"""Webhook endpoints registered by users, the events queued for them, and every attempt.

A delivery is one event for one endpoint: its `event_id` (the `webhook-id` header) stays the
same on every attempt, so a receiver de-duplicates retries by it (Standard Webhooks).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Event(models.TextChoices):
    REFERRAL_FINISHED = "referral.finished", _("Un referido llegó a un estado final")
    BATCH_FINISHED = "batch.finished", _("Una importación terminó de verificarse")


class WebhookEndpoint(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("dueño"),
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("descripción"), max_length=200, blank=True)
    # Kept as given: the HMAC needs it on every delivery. Shown to the owner once, at creation.
    secret = models.CharField(max_length=100)
    events = models.JSONField(_("eventos"), default=list)
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)
    # Set on the first failed attempt after a success; an endpoint failing without a break for
    # WEBHOOK_DISABLE_AFTER is disabled and its owner told.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(_("desactivado"), null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.url

    @property
    def is_active(self) -> bool:
        return self.disabled_at is None


class WebhookDelivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pendiente")
        DELIVERED = "delivered", _("Entregado")
        FAILED = "failed", _("Falló")

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=32, choices=Event.choices)
    # Events that must reach an endpoint once (a batch finishing) carry a key; others NULL,
    # which the unique constraint below never compares (an empty string would collide).
    dedup_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the next attempt is due; while an attempt runs, the end of its lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "dedup_key"], name="webhook_delivery_dedup"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="webhook_delivery_due"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} → {self.endpoint_id} ({self.state})"


class WebhookAttempt(models.Model):
    """One POST to the endpoint: what the owner reads to see why a delivery failed."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self):
        outcome = self.status_code or self.error
        return f"attempt {self.number} of delivery {self.delivery_id}: {outcome}"
