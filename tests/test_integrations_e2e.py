"""Through the real parts: an API token creates referrals, a real worker verifies them with
Chromium against the simulator, and a local receiver gets one signed webhook per referral."""

import base64
import hashlib
import hmac
import json

import pytest

from api import services as api_services
from referrals.models import Referral, Status
from simulator import KNOWN_CEDULAS
from tests.procs import WebhookReceiver, wait_for
from webhooks import services as webhook_services
from webhooks.models import Event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker, pytest.mark.browser]


def signature_verifies(secret: str, headers: dict, body: bytes) -> bool:
    """Standard Webhooks, as a receiver would check it (independent of the product's code)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split())


def test_a_token_creates_three_referrals_a_worker_verifies_them_and_webhooks_arrive_signed(
    client, user, start_worker, pipeline_env
):
    receiver = WebhookReceiver()
    try:
        _, secret = webhook_services.register_endpoint(
            owner=user, url=receiver.url, events=[Event.REFERRAL_FINISHED]
        )
        _, key = api_services.create_token(user=user, name="CRM")
        start_worker(queues="scraping,default", env=pipeline_env())
        cedulas = [
            KNOWN_CEDULAS["found"],
            KNOWN_CEDULAS["not_in_census"],
            KNOWN_CEDULAS["cancelled_deceased"],
        ]
        response = client.post(
            "/api/v1/referrals/batch/",
            json.dumps({"referrals": [{"data_authorization": True, "cedula": c} for c in cedulas]}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_IDEMPOTENCY_KEY="e2e-1",
        )
        assert response.status_code == 200 and response.json()["created"] == 3

        wait_for(lambda: len(receiver.requests) >= 3, timeout=90, message="3 webhooks")
        referrals = {r.cedula: r for r in Referral.objects.filter(cedula__in=cedulas)}
        assert {r.status for r in referrals.values()} == {
            Status.VERIFIED,
            Status.NOT_FOUND,
            Status.CANCELLED,
        }
        assert len(receiver.requests) == 3
        ids = set()
        for posted in receiver.requests:
            assert signature_verifies(secret, posted["headers"], posted["body"])
            payload = json.loads(posted["body"])
            data = payload["data"]
            assert payload["type"] == "referral.finished"
            assert data["status"] == referrals[data["cedula"]].status
            assert data["census_source"] == "consultacenso"  # the page that answered
            ids.add(data["id"])
        assert ids == {r.pk for r in referrals.values()}
        found = client.get(
            f"/api/v1/referrals/{referrals[KNOWN_CEDULAS['found']].pk}/",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        ).json()
        assert found["status"] == "verified" and found["puesto"]
        assert found["census_source"] == "consultacenso"
    finally:
        receiver.close()
