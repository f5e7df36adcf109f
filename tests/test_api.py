"""The REST API (/api/v1/): tokens, creates (one and many), idempotency, scoping, errors,
throttling. Through Django's test client and the real Redis (throttle counters, published
verifications)."""

import json

import pytest
from django.urls import reverse

from api import services
from api.models import ApiToken
from api.throttling import TokenRateThrottle
from pipeline.dispatch import Queue
from referrals.models import Referral, Status

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_redis(redis):
    """Throttle counters and published verifications live in the tests' Redis db."""


def bearer(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


@pytest.fixture
def key(user):
    return services.create_token(user=user, name="CRM")[1]


@pytest.fixture
def other_key(other_user):
    return services.create_token(user=other_user, name="bot")[1]


def post(client, path, body, key, **extra):
    return client.post(
        path, json.dumps(body), content_type="application/json", **bearer(key), **extra
    )


def test_a_token_is_created_on_the_users_page_shown_once_stored_hashed_and_revocable(
    user_client, user, client
):
    page = user_client.post(reverse("token-create"), {"name": "CRM de la campaña"})
    assert page.status_code == 200
    html = page.content.decode()
    token = ApiToken.objects.get(user=user)
    start = html.index('id="new-secret">') + len('id="new-secret">')
    key = html[start : html.index("<", start)]
    assert key.startswith("cv_") and len(key) > 40
    assert token.key_hash == services.hash_key(key) and key not in token.key_hash
    assert key not in user_client.get(reverse("integrations")).content.decode()  # once only

    assert client.get("/api/v1/referrals/", **bearer(key)).status_code == 200
    user_client.post(reverse("token-revoke", args=[token.pk]))
    revoked = client.get("/api/v1/referrals/", **bearer(key))
    assert revoked.status_code == 401
    assert revoked.json()["error"]["code"] == "authentication_failed"


def test_without_a_token_the_api_answers_401_json_with_a_code(client, user_client):
    response = client.get("/api/v1/referrals/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"
    # A logged-in portal session is not an API credential (no CSRF-less writes by cookie).
    assert user_client.get("/api/v1/referrals/").status_code == 401
    assert client.get("/api/v1/referrals/", **bearer("cv_nope")).status_code == 401


def test_create_one_referral_and_each_error_has_a_stable_code(client, key, redis):
    created = post(
        client,
        "/api/v1/referrals/",
        {"data_authorization": True, "cedula": "1.020.304.050", "full_name": "Ana"},
        key,
    )
    assert created.status_code == 201, created.content
    assert created.json()["cedula"] == "1020304050" and created.json()["status"] == "pending"

    bad = post(client, "/api/v1/referrals/", {"data_authorization": True, "cedula": "12ab"}, key)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_cedula"
    again = post(
        client, "/api/v1/referrals/", {"data_authorization": True, "cedula": "1020304050"}, key
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_registered"
    not_json = client.post(
        "/api/v1/referrals/", "{", content_type="application/json", **bearer(key)
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "parse_error"


def test_a_batch_answers_each_row(client, key, django_capture_on_commit_callbacks, redis):
    rows = [
        {"data_authorization": True, "cedula": "1020304050"},
        {"data_authorization": True, "cedula": "1000000001", "full_name": "Beto"},
        {"data_authorization": True, "cedula": "0123"},
        {"data_authorization": True, "cedula": "1020304050"},
        {"full_name": "sin cédula"},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/v1/referrals/batch/", {"referrals": rows}, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["created"], body["rejected"]) == (2, 3)
    assert [r["ok"] for r in body["results"]] == [True, True, False, False, False]
    codes = [r.get("error", {}).get("code") for r in body["results"]]
    assert codes == [None, None, "invalid_cedula", "already_registered", "invalid_cedula"]
    assert redis.llen(Queue.SCRAPING) == 2  # one verification published per created referral

    too_many = post(
        client,
        "/api/v1/referrals/batch/",
        {"referrals": [{"data_authorization": True, "cedula": "1"}] * 501},
        key,
    )
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "invalid"


def test_a_retried_create_with_the_same_idempotency_key_creates_nothing_new(
    client, key, user, django_capture_on_commit_callbacks, redis
):
    body = {
        "referrals": [
            {"data_authorization": True, "cedula": "1020304050"},
            {"data_authorization": True, "cedula": "1000000001"},
        ]
    }
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, "/api/v1/referrals/batch/", body, key, HTTP_IDEMPOTENCY_KEY="k-1")
        retry = post(client, "/api/v1/referrals/batch/", body, key, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json() and retry["Idempotent-Replayed"] == "true"
    assert Referral.objects.filter(referred_by=user).count() == 2
    assert redis.llen(Queue.SCRAPING) == 2  # the retry published nothing either

    other_body = post(
        client,
        "/api/v1/referrals/batch/",
        {"referrals": [{"data_authorization": True, "cedula": "1000000003"}]},
        key,
        HTTP_IDEMPOTENCY_KEY="k-1",
    )  # fmt: skip
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    # Without the key, the same body is a new request: both cédulas are taken now.
    plain = post(client, "/api/v1/referrals/batch/", body, key)
    assert plain.json()["created"] == 0


def test_a_leaders_token_cannot_read_another_leaders_referral(client, user, key, other_key):
    mine = post(
        client, "/api/v1/referrals/", {"data_authorization": True, "cedula": "1020304050"}, key
    ).json()
    Referral.objects.filter(pk=mine["id"]).update(status=Status.VERIFIED)
    theirs = f"/api/v1/referrals/{mine['id']}/"
    assert client.get(theirs, **bearer(key)).status_code == 200
    denied = client.get(theirs, **bearer(other_key))
    assert denied.status_code == 404 and denied.json()["error"]["code"] == "not_found"
    assert post(client, f"{theirs}reverify/", {}, other_key).status_code == 404
    assert client.get("/api/v1/referrals/", **bearer(other_key)).json()["results"] == []
    counts = client.get("/api/v1/referrals/counts/", **bearer(other_key)).json()
    assert counts["total"] == 0
    assert (
        client.get(f"/api/v1/referrals/?q={mine['cedula']}", **bearer(other_key)).json()["results"]
        == []
    )


def test_list_filters_like_the_portal_and_pages_with_a_cursor(client, user, key):
    for i in range(7):
        Referral.objects.create(
            cedula=f"10203040{i:02d}",
            referred_by=user,
            status=Status.VERIFIED if i % 2 else Status.PENDING,
            municipio="MEDELLIN" if i < 3 else "BELLO",
        )
    page = client.get("/api/v1/referrals/?page_size=3", **bearer(key)).json()
    seen = [r["cedula"] for r in page["results"]]
    while page["next"]:
        page = client.get(page["next"], **bearer(key)).json()
        seen += [r["cedula"] for r in page["results"]]
    assert seen == [f"10203040{i:02d}" for i in reversed(range(7))]  # newest first, no overlap

    verified = client.get("/api/v1/referrals/?status=verified", **bearer(key)).json()["results"]
    assert {r["cedula"] for r in verified} == {"1020304001", "1020304003", "1020304005"}
    bello = client.get("/api/v1/referrals/?municipio=BELLO&status=pending", **bearer(key)).json()
    assert {r["cedula"] for r in bello["results"]} == {"1020304004", "1020304006"}
    search = client.get("/api/v1/referrals/?q=1.020.304.00", **bearer(key)).json()["results"]
    assert len(search) == 7

    counts = client.get("/api/v1/referrals/counts/", **bearer(key)).json()
    assert counts["total"] == 7 and counts["in_flight"] == 4
    assert counts["by_status"]["verified"] == 3 and counts["by_status"]["failed"] == 0


def test_reverify_queues_a_final_referral_again_and_refuses_one_in_flight(
    client, user, key, django_capture_on_commit_callbacks, redis
):
    referral = Referral.objects.create(cedula="1020304050", referred_by=user, status=Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, f"/api/v1/referrals/{referral.pk}/reverify/", {}, key)
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert redis.llen(Queue.SCRAPING) == 1
    busy = post(client, f"/api/v1/referrals/{referral.pk}/reverify/", {}, key)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "in_flight"


def test_each_token_is_throttled_on_its_own(client, key, other_key, monkeypatch):
    monkeypatch.setattr(TokenRateThrottle, "THROTTLE_RATES", {"api_token": "3/min"})
    answers = [client.get("/api/v1/referrals/counts/", **bearer(key)) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "throttled"
    assert int(answers[-1]["Retry-After"]) > 0
    assert client.get("/api/v1/referrals/counts/", **bearer(other_key)).status_code == 200


def test_the_schema_and_its_docs_are_served(client):
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200 and b"/api/v1/referrals/batch/" in schema.content
    assert client.get("/api/v1/docs/").status_code == 200
