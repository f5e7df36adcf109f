"""Webhooks: Standard Webhooks signatures, the refusal of private addresses, delivery by a real
worker with retries, idempotent attempts, the endpoint disabled after failing for long, and the
events the pipeline queues (a referral's final state, a batch finished)."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Membership
from ops.models import Alert
from pipeline import verification, webhook_delivery
from referrals.models import ImportBatch, Referral, ScrapeAttempt, Status
from tests.campaign import build_campaign
from tests.procs import WebhookReceiver, child_env, wait_for
from webhooks import events, services
from webhooks.addresses import UnsafeURL, check_url
from webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def verify_standard_webhook(secret: str, headers: dict, body: bytes) -> bool:
    """The receiver's side, written from the Standard Webhooks spec (not the product's code)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}"
    expected = base64.b64encode(hmac.new(key, content.encode(), hashlib.sha256).digest()).decode()
    signatures = [s.split(",", 1)[1] for s in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, s) for s in signatures)


@pytest.fixture
def receiver():
    servers = []

    def start(fail_first=0):
        servers.append(WebhookReceiver(fail_first=fail_first))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def finish(referral: Referral, status=Status.VERIFIED) -> None:
    Referral.objects.filter(pk=referral.pk).update(status=status, finished_at=timezone.now())


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://93.184.216.34/hook",
    ],
)
def test_urls_to_this_machine_or_private_networks_are_refused(url):
    with pytest.raises(UnsafeURL):
        check_url(url)


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False)
def test_a_public_address_is_accepted_and_the_page_refuses_a_private_one(user_client, user):
    check_url("https://93.184.216.34/hook")  # a literal public address: no DNS needed
    page = user_client.post(
        reverse("webhook-create"),
        {"url": "http://127.0.0.1:9/x", "events": [Event.REFERRAL_FINISHED]},
    )
    assert page.status_code == 400 and not WebhookEndpoint.objects.exists()


def test_the_page_registers_an_endpoint_and_shows_its_secret_once(user_client, user):
    page = user_client.post(
        reverse("webhook-create"),
        {"url": "http://127.0.0.1:9/x", "events": [Event.REFERRAL_FINISHED, Event.BATCH_FINISHED]},
    )
    endpoint = WebhookEndpoint.objects.get(owner=user)
    assert endpoint.secret.startswith("whsec_") and endpoint.secret in page.content.decode()
    assert endpoint.events == [Event.REFERRAL_FINISHED, Event.BATCH_FINISHED]
    assert endpoint.secret not in user_client.get(reverse("integrations")).content.decode()


@pytest.mark.django_db
def test_one_attempt_posts_a_signed_event_and_a_duplicate_message_does_nothing(
    user, receiver, redis
):
    server = receiver()
    endpoint, secret = services.register_endpoint(
        owner=user, url=server.url, events=[Event.REFERRAL_FINISHED]
    )
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    finish(referral)
    events.referral_finished(referral.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    assert webhook_delivery.deliver(delivery.pk) == "delivered"
    assert webhook_delivery.deliver(delivery.pk) == "skipped"  # the same message again
    (posted,) = server.requests
    assert verify_standard_webhook(secret, posted["headers"], posted["body"])
    assert not verify_standard_webhook(secret, posted["headers"], posted["body"] + b" ")
    assert posted["headers"]["webhook-id"] == delivery.event_id
    payload = json.loads(posted["body"])
    assert payload["type"] == "referral.finished"
    assert payload["data"]["cedula"] == "1020304050" and payload["data"]["status"] == "verified"
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and delivery.attempts == 1


@pytest.mark.django_db
def test_an_endpoint_failing_for_longer_than_the_limit_is_disabled_and_its_owner_told(
    user, receiver, redis, settings
):
    settings.WEBHOOK_DISABLE_AFTER = 3600
    server = receiver(fail_first=100)
    endpoint, _ = services.register_endpoint(
        owner=user, url=server.url, events=[Event.REFERRAL_FINISHED]
    )
    for cedula in ("1020304050", "1000000001"):
        finish(Referral.objects.create(cedula=cedula, referred_by=user))
        events.referral_finished(Referral.objects.get(cedula=cedula).pk)
    first, second = WebhookDelivery.objects.order_by("pk")

    assert webhook_delivery.deliver(first.pk) == "retry"  # failing since now: not yet
    endpoint.refresh_from_db()
    assert endpoint.is_active and endpoint.failing_since is not None
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(hours=2)
    )
    assert webhook_delivery.deliver(second.pk) == "failed"
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "HTTP 500" in endpoint.disabled_reason
    first.refresh_from_db()
    assert first.state == "failed"  # nothing more is tried for a disabled endpoint
    assert Alert.objects.filter(key=f"webhook-disabled:{endpoint.pk}").exists()
    assert mail.outbox and mail.outbox[0].to == [user.email]
    assert WebhookAttempt.objects.filter(delivery__endpoint=endpoint, ok=False).count() == 2


@pytest.mark.django_db
def test_a_batch_finished_event_goes_out_once_when_its_last_referral_is_final(user, redis):
    endpoint, _ = services.register_endpoint(
        owner=user, url="http://127.0.0.1:9/x", events=[Event.BATCH_FINISHED]
    )
    batch = ImportBatch.objects.create(created_by=user, filename="lista.csv", state="confirmed")
    a, b = (
        Referral.objects.create(cedula=c, referred_by=user, import_batch=batch)
        for c in ("1020304050", "1000000001")
    )
    finish(a)
    events.referral_finished(a.pk)
    assert not WebhookDelivery.objects.exists()  # b is still in flight
    finish(b, Status.NOT_FOUND)
    events.referral_finished(b.pk)
    events.referral_finished(b.pk)  # e.g. verified again later: still one event
    (delivery,) = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.event_type == "batch.finished"
    assert delivery.payload["data"]["by_status"] == {"verified": 1, "not_found": 1}


@pytest.mark.django_db
def test_endpoints_hear_of_the_referrals_their_owners_may_read_and_no_others(redis):
    campaign = build_campaign()
    people = campaign["people"]
    endpoints = {
        name: services.register_endpoint(
            owner=people[name],
            url=f"http://127.0.0.1:9/{name}",
            events=[Event.REFERRAL_FINISHED, Event.BATCH_FINISHED],
        )[0]
        for name in ("owner", "teammate", "coordinator", "coordinator2", "manager", "viewer")
    }
    batch = ImportBatch.objects.create(
        created_by=people["owner"], filename="lista.csv", state="confirmed"
    )
    referral = Referral.objects.create(
        cedula="1020304050", referred_by=people["owner"], import_batch=batch
    )
    finish(referral)
    events.referral_finished(referral.pk)

    deliveries = WebhookDelivery.objects.values_list("event_type", flat=True)
    heard = {name: sorted(deliveries.filter(endpoint=e)) for name, e in endpoints.items()}
    both = ["batch.finished", "referral.finished"]
    # The leader, their team's coordinator and the manager; not a teammate, the other team's
    # coordinator, or a viewer (who reads counts, not people).
    assert heard == {
        "owner": both,
        "coordinator": both,
        "manager": both,
        "teammate": [],
        "coordinator2": [],
        "viewer": [],
    }

    # A leader moved to the other team is heard by that team's coordinator from then on.
    Membership.objects.filter(user=people["owner"]).update(team=campaign["south"])
    again = Referral.objects.create(cedula="1000000001", referred_by=people["owner"])
    finish(again)
    events.referral_finished(again.pk)
    hearers = WebhookDelivery.objects.filter(payload__data__id=again.pk).values_list(
        "endpoint__owner__username", flat=True
    )
    assert sorted(hearers) == ["ana", "coord2", "gerente"]


@pytest.mark.django_db
def test_the_pipeline_announces_a_final_state_it_stores_and_not_a_retry(user, redis):
    endpoint, _ = services.register_endpoint(
        owner=user, url="http://127.0.0.1:9/x", events=[Event.REFERRAL_FINISHED]
    )
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    attempt = verification.claim_referral(referral.pk, "task-1")
    verification._finish(attempt, Status.RETRYING, ScrapeAttempt.Outcome.RETRY, final=False)
    assert not WebhookDelivery.objects.exists()
    verification.fail_referral(referral.pk, RuntimeError("boom"))
    (delivery,) = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert delivery.payload["data"]["status"] == "failed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_receiver_that_fails_twice_gets_the_event_on_the_third_try(user, receiver, start_worker):
    server = receiver(fail_first=2)
    start_worker(queues="default", env=child_env(WEBHOOK_RETRY_SCHEDULE="0.5s,1s,5m"))
    endpoint, secret = services.register_endpoint(
        owner=user, url=server.url, events=[Event.REFERRAL_FINISHED]
    )
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    finish(referral)
    events.referral_finished(referral.pk)  # published on commit (autocommit here)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    def delivered():
        delivery.refresh_from_db()
        return delivery.state == "delivered"

    wait_for(delivered, timeout=30, message="the third attempt to be delivered")
    assert [r["answered"] for r in server.requests] == [500, 500, 200]
    assert {r["headers"]["webhook-id"] for r in server.requests} == {delivery.event_id}
    assert all(verify_standard_webhook(secret, r["headers"], r["body"]) for r in server.requests)
    log = list(delivery.log.order_by("number").values_list("number", "status_code", "ok"))
    assert log == [(1, 500, False), (2, 500, False), (3, 200, True)]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None and endpoint.is_active


@pytest.mark.django_db
def test_long_retries_wait_in_the_database_for_beats_sweep_not_as_a_redis_eta(
    user, receiver, redis, settings
):
    # A countdown longer than the broker's visibility timeout would be redelivered while it
    # waits; a long wait is left to the sweep, which publishes the delivery once it is due.
    from pipeline import broker
    from pipeline.dispatch import DELIVER_WEBHOOK, Queue

    settings.WEBHOOK_RETRY_SCHEDULE = [3600.0]
    server = receiver(fail_first=1)
    endpoint, _ = services.register_endpoint(
        owner=user, url=server.url, events=[Event.REFERRAL_FINISHED]
    )
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    finish(referral)
    events.referral_finished(referral.pk)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    assert webhook_delivery.deliver(delivery.pk) == "retry"
    assert redis.llen(Queue.DEFAULT) == 0 and not redis.hlen("unacked")
    assert webhook_delivery.publish_due_deliveries() == 0  # not due for an hour
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhook_delivery.publish_due_deliveries() == 1
    (raw,) = redis.lrange(Queue.DEFAULT, 0, -1)
    assert broker.task_call(json.loads(raw)) == (DELIVER_WEBHOOK, [delivery.pk])
    assert webhook_delivery.deliver(delivery.pk) == "delivered"
    assert webhook_delivery.deliver(delivery.pk) == "skipped"  # the swept message, late
