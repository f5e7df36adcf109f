"""/metrics: no token, no metrics; with it, the product's families in Prometheus' format."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ops import monitoring
from pipeline import dispatch
from referrals.models import ImportBatch, Referral, ScrapeAttempt, Status
from webhooks import services as webhook_services
from webhooks.models import WebhookAttempt, WebhookDelivery

pytestmark = pytest.mark.django_db

TOKEN = "metrics-test-token"
FAMILIES = {
    "cedula_referrals": "gauge",
    "cedula_referrals_delayed": "gauge",
    "cedula_oldest_in_flight_seconds": "gauge",
    "cedula_lookups": "counter",
    "cedula_lookup_retries": "counter",
    "cedula_lookup_duration_seconds": "histogram",
    "cedula_circuit_state": "gauge",
    "cedula_circuit_open_seconds_left": "gauge",
    "cedula_captcha_pool_tokens": "gauge",
    "cedula_captcha_tokens_last_2h": "gauge",
    "cedula_captcha_spend_usd_last_24h": "gauge",
    "cedula_captcha_pool_enabled": "gauge",
    "cedula_queue_depth": "gauge",
    "cedula_queue_messages": "gauge",
    "cedula_queue_consumers": "gauge",
    "cedula_beat_heartbeat_age_seconds": "gauge",
    "cedula_webhook_attempts": "counter",
    "cedula_webhook_deliveries": "gauge",
    "cedula_webhook_endpoints_disabled": "gauge",
    "cedula_redis_up": "gauge",
}


def scrape(client, token=TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.get("/metrics", **headers)


def families(response) -> dict:
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def test_no_token_no_metrics(client, settings):
    settings.METRICS_TOKEN = ""
    assert scrape(client).status_code == 404  # not configured: not served at all
    settings.METRICS_TOKEN = TOKEN
    assert scrape(client, token=None).status_code == 401
    assert scrape(client, token="wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 401


def test_with_the_token_the_exposition_parses_and_carries_the_product_families(
    client, settings, redis, user
):
    settings.METRICS_TOKEN = TOKEN
    batch = ImportBatch.objects.create(created_by=user, filename="a.csv", state="confirmed")
    verified = Referral.objects.create(
        cedula="1020304050", referred_by=user, status=Status.VERIFIED
    )
    Referral.objects.create(cedula="1000000001", referred_by=user, import_batch=batch)
    ScrapeAttempt.objects.create(
        referral=verified, outcome="found", duration_ms=1500, source="consultacenso"
    )
    ScrapeAttempt.objects.create(referral=verified, outcome="retry", duration_ms=25_000)
    endpoint, _ = webhook_services.register_endpoint(
        owner=user, url="http://127.0.0.1:9/x", events=["referral.finished"]
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="msg_1", event_type="referral.finished", payload={}
    )
    WebhookAttempt.objects.create(delivery=delivery, number=1, status_code=500)
    monitoring.record_heartbeat(1.0)

    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = families(response)
    missing = {name for name in FAMILIES if name not in found}
    assert not missing, missing
    assert {name: found[name].type for name in FAMILIES} == FAMILIES

    def value(name, suffix="", **labels):
        return next(
            s.value
            for s in found[name].samples
            if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
        )

    assert value("cedula_referrals", status="verified") == 1
    assert value("cedula_referrals", status="pending") == 1
    assert (
        value("cedula_lookups", "_total", outcome="found", source="consultacenso", origin="direct")
        == 1
    )
    assert value("cedula_lookup_retries", "_total") == 1
    assert value("cedula_lookup_duration_seconds", "_bucket", le="2.0") == 1
    assert value("cedula_lookup_duration_seconds", "_bucket", le="30.0") == 2
    assert value("cedula_lookup_duration_seconds", "_count") == 2
    assert value("cedula_lookup_duration_seconds", "_sum") == 26.5
    # One circuit per egress address and census source.
    assert value("cedula_circuit_state", limiter_key="direct@consultacenso", state="closed") == 1
    assert value("cedula_webhook_attempts", "_total", result="failed") == 1
    assert value("cedula_webhook_deliveries", state="pending") == 1
    assert value("cedula_queue_consumers", queue="scraping") == 0  # no worker in this test
    assert value("cedula_queue_messages", queue="scraping", state="waiting") == 0
    assert value("cedula_beat_heartbeat_age_seconds") > 1000
    assert value("cedula_redis_up") == 1


def test_queue_figures_count_what_workers_hold_not_only_the_lists(client, settings, redis, user):
    """A deferred or retrying lookup sits in a worker (kombu's `unacked` hash) with a countdown,
    not in the queue's list: the list alone would read 0 while work waits."""
    settings.METRICS_TOKEN = TOKEN
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    dispatch.publish_verification(referral.pk)  # waiting in the list
    due = (timezone.now() + timedelta(minutes=5)).isoformat()
    for tag, headers in (("t1", {"eta": due}), ("t2", {})):  # scheduled, and one running
        message = {"headers": headers, "properties": {"delivery_info": {"routing_key": "scraping"}}}
        redis.hset("unacked", tag, json.dumps([message, "", "scraping"]))
    found = families(scrape(client))
    states = {
        s.labels["state"]: s.value
        for s in found["cedula_queue_messages"].samples
        if s.labels["queue"] == "scraping"
    }
    assert states == {"waiting": 1, "held": 1, "scheduled": 1}
