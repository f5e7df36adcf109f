"""Writes on webhook endpoints: register (the secret is returned once), re-enable, delete."""

from django.utils import timezone

from . import signing
from .addresses import check_url
from .models import Event, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS_PER_USER = 10


class TooManyEndpoints(Exception):
    pass


def register_endpoint(*, owner, url: str, events: list[str], description: str = ""):
    """Save an endpoint for `owner`. Returns (endpoint, secret): show the secret now, it is
    never shown again. Raises UnsafeURL for a URL that may not receive webhooks."""
    check_url(url)
    if WebhookEndpoint.objects.filter(owner=owner).count() >= MAX_ENDPOINTS_PER_USER:
        raise TooManyEndpoints()
    secret = signing.new_secret()
    endpoint = WebhookEndpoint.objects.create(
        owner=owner,
        url=url,
        description=description.strip()[:200],
        secret=secret,
        events=[e for e in Event.values if e in events],
    )
    return endpoint, secret


def enable_endpoint(endpoint: WebhookEndpoint) -> None:
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.failing_since = None
    endpoint.save(update_fields=["disabled_at", "disabled_reason", "failing_since"])


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def disable_endpoint(endpoint_id: int, reason: str) -> bool:
    """Stop deliveries to an endpoint; True for the call that disabled it."""
    now = timezone.now()
    disabled = WebhookEndpoint.objects.filter(pk=endpoint_id, disabled_at__isnull=True).update(
        disabled_at=now, disabled_reason=reason[:300]
    )
    if disabled:
        WebhookDelivery.objects.filter(
            endpoint_id=endpoint_id, state=WebhookDelivery.State.PENDING
        ).update(state=WebhookDelivery.State.FAILED, next_attempt_at=None)
    return bool(disabled)
