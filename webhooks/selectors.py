"""Reads for the owner's integrations page: their endpoints and the latest attempts."""

from .models import WebhookAttempt, WebhookEndpoint


def endpoints_of(user):
    return WebhookEndpoint.objects.filter(owner=user)


def recent_attempts(user, limit: int = 50):
    return (
        WebhookAttempt.objects.filter(delivery__endpoint__owner=user)
        .select_related("delivery", "delivery__endpoint")
        .order_by("-started_at", "-id")[:limit]
    )
