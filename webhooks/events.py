"""The events a webhook endpoint can receive, queued when they happen.

The pipeline calls `referral_finished` once a run stored a final state (the one door from the
pipeline into webhooks); every endpoint subscribed to the event whose owner may read the
referral in the portal gets a delivery (the referrer's own endpoints, their coordinator's, the
manager's: referrals.selectors decides, as for the API), sent after the transaction commits by
a task on the `default` queue (pipeline.webhook_delivery).
"""

import uuid

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from campaigns.selectors import visible_people
from pipeline import dispatch
from referrals import selectors
from referrals.models import ImportBatch, Referral, Status

from .models import Event, WebhookDelivery, WebhookEndpoint

# The fields of a referral that integrators read, in the API and in webhook payloads alike.
REFERRAL_FIELDS = (
    "id",
    "cedula",
    "full_name",
    "status",
    "created_at",
    "updated_at",
    "finished_at",
    "attempts",
    "import_batch_id",
    "last_error",
    "census_status",
    "census_message",
    "census_source",
    "departamento",
    "municipio",
    "puesto",
    "direccion",
    "mesa",
)


def referral_data(referral: Referral) -> dict:
    data = {}
    for field in REFERRAL_FIELDS:
        value = getattr(referral, field)
        data[field] = value.isoformat() if hasattr(value, "isoformat") else value
    return data


def _endpoints_for(person_id: int, event: str) -> list[WebhookEndpoint]:
    """The active endpoints subscribed to `event` whose owners may read the rows of
    `person_id`'s referrals. Filtered here, not with a JSON lookup: SQLite has no `contains` on
    JSONField, and a campaign has a handful of endpoints."""
    endpoints = WebhookEndpoint.objects.filter(
        disabled_at__isnull=True, owner__is_active=True
    ).select_related("owner")
    return [e for e in endpoints if event in e.events and _may_read(e.owner, person_id)]


def _may_read(owner, person_id: int) -> bool:
    if not selectors.can_read_rows(owner):
        return False  # a viewer reads counts, not people
    scope = visible_people(owner)
    return scope is None or person_id in scope


def _queue(endpoint: WebhookEndpoint, event: str, data: dict, dedup_key: str | None) -> None:
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": data}
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint,
                event_id=f"msg_{uuid.uuid4().hex}",
                event_type=event,
                dedup_key=dedup_key,
                payload=payload,
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return  # this endpoint already has this once-only event
    transaction.on_commit(lambda: dispatch.publish_webhook_delivery(delivery.pk))


def referral_finished(referral_id: int) -> None:
    """A referral reached a final state: tell the endpoints that may read it, and those of its
    batch if that was the batch's last referral in flight."""
    referral = Referral.objects.filter(pk=referral_id).first()
    if referral is None or referral.status not in Status.final():
        return
    for endpoint in _endpoints_for(referral.referred_by_id, Event.REFERRAL_FINISHED):
        _queue(endpoint, Event.REFERRAL_FINISHED, referral_data(referral), None)
    if referral.import_batch_id:
        _batch_finished_if_done(referral.import_batch_id)


def _batch_finished_if_done(batch_id: int) -> None:
    batch = ImportBatch.objects.filter(pk=batch_id).first()
    if batch is None or batch.referrals.filter(status__in=Status.in_flight()).exists():
        return
    endpoints = _endpoints_for(batch.created_by_id, Event.BATCH_FINISHED)
    if not endpoints:
        return
    counts = dict(batch.referrals.order_by().values_list("status").annotate(n=Count("pk")))
    data = {
        "id": batch.pk,
        "filename": batch.filename,
        "referrals": sum(counts.values()),
        "by_status": counts,
    }
    for endpoint in endpoints:
        # Once per batch and endpoint, even if its referrals are verified again later.
        _queue(endpoint, Event.BATCH_FINISHED, data, f"batch.finished:{batch.pk}")
