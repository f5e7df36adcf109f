import time

import pytest


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


def test_pipeline_health_says_what_is_missing(client, redis):
    response = client.get("/healthz/pipeline")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["beat"] == "error: no heartbeat yet"
    assert checks["queue scraping"] == "error: no worker consumes it"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_pipeline_health_is_ok_with_beat_and_a_worker_on_every_queue(
    client, start_worker, pipeline_env, redis
):
    from referrals import monitoring

    start_worker(queues="scraping,default,captcha", env=pipeline_env())
    monitoring.record_heartbeat(time.time() - 200)  # beat stopped a while ago
    body = client.get("/healthz/pipeline").json()
    assert body["checks"]["beat"].startswith("error: last heartbeat 200 s ago")
    monitoring.record_heartbeat(time.time())
    response = client.get("/healthz/pipeline")
    assert response.status_code == 200, response.json()
    assert set(response.json()["checks"].values()) == {"ok"}


def test_pipeline_health_needs_no_captcha_worker_with_the_pool_off(client, redis, settings):
    settings.CAPTCHA_POOL_SIZE_MAX = 0
    checks = client.get("/healthz/pipeline").json()["checks"]
    assert "queue captcha" not in checks and "queue scraping" in checks
