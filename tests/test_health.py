import re
import time

import pytest


@pytest.fixture(autouse=True)
def fresh_pipeline_health(monkeypatch):
    # The public answer is cached per process for a few seconds; these tests want every
    # answer fresh (tests/conftest.py only drops an earlier test's).
    monkeypatch.setattr("ops.health.PIPELINE_HEALTH_CACHE_SECONDS", 0)


def test_healthz_needs_no_login(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_lists_each_dependency(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_reports_redis_down(client, db, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


def test_pipeline_health_says_what_is_missing(client, redis, staff_user):
    client.force_login(staff_user)  # the detail is for staff
    response = client.get("/healthz/pipeline")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["beat"] == "error: no heartbeat yet"
    assert checks["queue scraping"] == "error: no worker consumes it"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_pipeline_health_is_ok_with_beat_and_a_worker_on_every_queue(
    client, start_worker, pipeline_env, redis, staff_user
):
    from ops import monitoring

    client.force_login(staff_user)
    start_worker(queues="scraping,default,captcha", env=pipeline_env())
    monitoring.record_heartbeat(time.time() - 200)  # beat stopped a while ago
    body = client.get("/healthz/pipeline").json()
    # "200 s ago", or a second or two more when the request itself was slow (a loaded machine).
    beat = re.fullmatch(r"error: last heartbeat (\d+) s ago", body["checks"]["beat"])
    assert beat and 200 <= int(beat[1]) < 230, body["checks"]["beat"]
    monitoring.record_heartbeat(time.time())
    response = client.get("/healthz/pipeline")
    assert response.status_code == 200, response.json()
    assert set(response.json()["checks"].values()) == {"ok"}


def test_pipeline_health_needs_no_captcha_worker_with_the_pool_off(
    client, redis, settings, staff_user
):
    client.force_login(staff_user)
    settings.CAPTCHA_POOL_SIZE_MAX = 0
    checks = client.get("/healthz/pipeline").json()["checks"]
    assert "queue captcha" not in checks and "queue scraping" in checks


@pytest.mark.django_db
def test_work_stuck_past_stale_after_is_degraded_progress(
    client, redis, staff_user, user, settings
):
    """Workers alive is not progress: a referral in flight that has not moved for STALE_AFTER
    makes the pipeline's health say so, with its age."""
    from datetime import timedelta

    from django.utils import timezone

    from ops import monitoring
    from referrals.models import Referral, Status

    settings.STALE_AFTER = 600
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    assert monitoring.progress_checks()["oldest work"] == "ok"
    Referral.objects.filter(pk=referral.pk).update(
        status=Status.VERIFYING, updated_at=timezone.now() - timedelta(minutes=15)
    )
    stuck = r"degraded: a referral in flight has not moved for 9\d\d s \(STALE_AFTER 600 s\)"
    assert re.fullmatch(stuck, monitoring.progress_checks()["oldest work"])
    client.force_login(staff_user)
    response = client.get("/healthz/pipeline")
    assert response.status_code == 503
    assert re.fullmatch(stuck, response.json()["checks"]["oldest work"])
