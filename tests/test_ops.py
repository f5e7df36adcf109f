"""Ops and on-call: the stale sweep, alerts that leave the process, the failure-rate alert,
the dashboard, Flower."""

import io
import json
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone

from harness.processes import ChildProcess
from ops import alerts, monitoring
from ops.models import Alert
from pipeline import broker, sweep
from referrals.models import Referral, ScrapeAttempt, Status
from simulator import KNOWN_CEDULAS
from tests.procs import ROOT, child_env, free_port, wait_for


def make_stale(referral, minutes=45, **fields):
    Referral.objects.filter(pk=referral.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes), **fields
    )


def queued_ids(redis):
    return broker.queued_referral_ids()  # the fixture emptied the broker's database


@pytest.mark.django_db(transaction=True)
def test_sweep_requeues_lost_work_then_flags_once_in_one_digest(user, redis, settings):
    settings.STALE_MAX_REQUEUES = 1
    lost = Referral.objects.create(cedula="1020304050", referred_by=user)
    queued = Referral.objects.create(cedula="52123456", referred_by=user)
    verifying = Referral.objects.create(cedula="79845123", referred_by=user)
    fresh = Referral.objects.create(cedula="80123456", referred_by=user)
    make_stale(lost)
    make_stale(queued)
    make_stale(verifying, status=Status.VERIFYING, claimed_by="gone")
    from pipeline.dispatch import publish_verification

    publish_verification(queued.pk)  # its message is still in Redis: a backlog, not lost
    redis.delete("alerts:dedup:queue-stalled")

    report = sweep.sweep_stale_referrals()
    assert sorted(report.requeued) == sorted([lost.pk, verifying.pk])
    assert report.flagged == [] and report.waiting == 1
    assert sorted(queued_ids(redis)) == sorted([lost.pk, verifying.pk, queued.pk])
    verifying.refresh_from_db()
    assert verifying.status == Status.PENDING and verifying.requeue_count == 1
    fresh.refresh_from_db()
    assert fresh.requeue_count == 0

    # The re-queued messages are lost again (e.g. Redis restarted): now they are flagged.
    redis.delete("scraping")
    make_stale(lost)
    make_stale(verifying)
    make_stale(queued)
    Alert.objects.all().delete()
    report = sweep.sweep_stale_referrals()
    assert sorted(report.flagged) == sorted([lost.pk, verifying.pk])
    assert report.requeued == [queued.pk]  # its first loss: one more try
    digests = list(Alert.objects.filter(key__startswith="stale-digest"))
    assert len(digests) == 1
    assert "2 referrals" in digests[0].body and str(lost.pk) in digests[0].body
    assert "stale_flagged_at__isnull=False" in digests[0].body

    # A second sweep sends nothing new: each referral is reported once.
    report = sweep.sweep_stale_referrals()
    assert report.flagged == [] and report.requeued == []
    assert Alert.objects.filter(key__startswith="stale-digest").count() == 1


def test_queued_work_that_no_worker_takes_alerts_once_that_the_queue_is_stalled(user, redis):
    # No scraping worker is running (never started, or died silently): the message waits.
    from pipeline.dispatch import publish_verification

    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    publish_verification(referral.pk)
    make_stale(referral)
    report = sweep.sweep_stale_referrals()
    assert report.waiting == 1 and report.requeued == [] and report.flagged == []
    assert queued_ids(redis) == [referral.pk]  # a backlog: not published twice
    assert list(Alert.objects.values_list("key", flat=True)) == ["queue-stalled"]
    assert "workers" in Alert.objects.get().body
    sweep.sweep_stale_referrals()
    assert Alert.objects.count() == 1  # one page per incident

    # A backlog that moves (a lookup started within STALE_AFTER) is not an incident.
    redis.delete("alerts:dedup:queue-stalled")
    Alert.objects.all().delete()
    ScrapeAttempt.objects.create(referral=referral)
    sweep.sweep_stale_referrals()
    assert not Alert.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_sweep_recovers_a_referral_whose_message_was_deleted(
    user, redis, start_worker, pipeline_env, simulator
):
    from pipeline.dispatch import publish_verification

    referral = Referral.objects.create(cedula=KNOWN_CEDULAS["found"], referred_by=user)
    publish_verification(referral.pk)
    redis.delete("scraping")  # the message is lost
    make_stale(referral)
    start_worker(env=pipeline_env())
    assert sweep.sweep_stale_referrals().requeued == [referral.pk]
    wait_for(lambda: Referral.objects.get(pk=referral.pk).status == Status.VERIFIED, timeout=60)


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_alerts_reach_a_webhook_once_per_incident(redis, start_worker, webhook):
    start_worker(queues="default", env=child_env(ALERT_URLS=webhook.apprise_url))
    assert alerts.raise_alert("incident-1", "Prueba de alerta", "something broke")
    assert not alerts.raise_alert("incident-1", "Prueba de alerta", "something broke again")
    assert alerts.raise_alert("incident-2", "Otra alerta", "something else")
    wait_for(lambda: len(webhook.received) == 2, timeout=30, message="2 alert payloads")
    artifact = ROOT / "test-artifacts" / "alert-payload.json"
    artifact.write_text(json.dumps(webhook.received[0], ensure_ascii=False, indent=2))
    titles = sorted(p["title"] for p in webhook.received)
    assert titles == ["[cedula-verify] Otra alerta", "[cedula-verify] Prueba de alerta"]
    assert {p["message"] for p in webhook.received} == {"something broke", "something else"}
    wait_for(lambda: Alert.objects.filter(delivered_at__isnull=False).count() == 2, timeout=10)
    assert not Alert.objects.exclude(delivery_error="").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_stuck_referrals_reach_on_call_as_one_digest_at_a_webhook(
    user, redis, settings, start_worker, webhook
):
    settings.STALE_MAX_REQUEUES = 0  # no re-queue left: stuck ones are flagged at once
    start_worker(queues="default", env=child_env(ALERT_URLS=webhook.apprise_url))
    stuck = [
        Referral.objects.create(cedula=str(1_900_000_000 + i), referred_by=user) for i in range(3)
    ]
    for referral in stuck:
        make_stale(referral, minutes=50, created_at=timezone.now() - timedelta(minutes=50))
    assert len(sweep.sweep_stale_referrals().flagged) == 3
    sweep.sweep_stale_referrals()  # nothing new: no second page
    wait_for(lambda: len(webhook.received) >= 1, timeout=30, message="the digest")
    time.sleep(1)
    assert len(webhook.received) == 1
    digest = webhook.received[0]
    artifact = ROOT / "test-artifacts" / "stale-digest-alert.json"
    artifact.write_text(json.dumps(digest, ensure_ascii=False, indent=2))
    assert "3" in digest["title"] and all(str(r.pk) in digest["message"] for r in stuck)
    assert "Oldest: 50 min" in digest["message"]
    assert "/admin/referrals/referral/?stale_flagged_at__isnull=False" in digest["message"]


def seed_attempts(referral, outcomes):
    for outcome in outcomes:
        ScrapeAttempt.objects.create(referral=referral, outcome=outcome)


def test_failure_rate_alerts_once_above_threshold_and_once_on_recovery(user, redis, settings):
    settings.FAILURE_RATE_ALERT = 0.2
    settings.FAILURE_RATE_MIN_ATTEMPTS = 10
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    seed_attempts(referral, ["found"] * 8 + ["retry"] * 2)  # exactly 20 %: not above
    assert monitoring.check_failure_rate() == "ok"
    seed_attempts(referral, ["failed"])  # 3 / 11 = 27 %
    assert monitoring.check_failure_rate() == "breach"
    assert monitoring.check_failure_rate() == "breach-ongoing"
    assert Alert.objects.filter(title__startswith="Tasa de fallos alta").count() == 1
    seed_attempts(referral, ["found"] * 10)  # 3 / 21 = 14 %
    assert monitoring.check_failure_rate() == "recovered"
    assert monitoring.check_failure_rate() == "ok"
    assert Alert.objects.filter(title__startswith="Tasa de fallos normal").count() == 1


def test_small_samples_do_not_alert(user, redis, settings):
    settings.FAILURE_RATE_MIN_ATTEMPTS = 10
    referral = Referral.objects.create(cedula="1020304050", referred_by=user)
    seed_attempts(referral, ["failed"] * 3)
    assert monitoring.check_failure_rate() == "ok"


def test_dashboard_figures_match_the_database(client, staff_user, user, redis):
    statuses = ["verified"] * 3 + ["pending"] * 2 + ["failed", "blocked"]
    for i, status in enumerate(statuses):
        referral = Referral.objects.create(cedula=f"{100000 + i}", referred_by=user, status=status)
    seed_attempts(referral, ["found", "found", "retry", "failed"])
    redis.rpush("scraping", "x", "y")
    monitoring.record_heartbeat(timezone.now().timestamp() - 5)

    figures = monitoring.dashboard_figures()
    assert figures["total"] == 7 and figures["verified"] == 3 and figures["in_flight"] == 2
    assert (figures["failed_last_hour"], figures["finished_last_hour"]) == (2, 4)
    assert figures["queues"] == {"scraping": 2, "default": 0, "captcha": 0}
    assert 4 < figures["heartbeat_age"] < 30
    assert sum(h["attempts"] for h in figures["hours"]) == 4

    client.force_login(staff_user)
    body = client.get(reverse("ops-dashboard")).content.decode()
    assert 'data-status-count="verified">3<' in body
    assert 'data-testid="failure-rate">50 %' in body
    assert "scraping: 2" in body
    assert 'data-testid="circuit" data-state="closed">cerrado' in body


def test_dashboard_is_for_staff_only(client, user, db):
    assert client.get(reverse("ops-dashboard")).status_code == 302
    client.force_login(user)
    assert client.get(reverse("ops-dashboard")).status_code == 403


def test_flower_refuses_to_start_without_auth_outside_debug():
    env = child_env(DEBUG="0")
    env.pop("FLOWER_BASIC_AUTH", None)
    result = subprocess.run(
        [sys.executable, "-m", "project.flower", "--port=0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr


@pytest.mark.parametrize("credentials", ["ops:change-me", "ops:", "ops:ok-pass,jefe:changeme"])
def test_flower_refuses_placeholder_or_empty_passwords_outside_debug(credentials):
    env = child_env(DEBUG="0", FLOWER_BASIC_AUTH=credentials)
    result = subprocess.run(
        [sys.executable, "-m", "project.flower", "--port=0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH is refused" in result.stderr


def test_flower_listens_on_localhost_unless_told(monkeypatch, settings):
    import celery.__main__

    from project import flower

    calls = []
    # Flower runs in this process (project.flower patches its queue list first): record the
    # command line it would run instead of starting it.
    monkeypatch.setattr(celery.__main__, "main", lambda: calls.append(list(sys.argv)))
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    settings.FLOWER_BASIC_AUTH = "ops:a-real-password"
    settings.DEBUG = False
    flower.main(["--port=5555"])
    flower.main(["--port=5555", "--address=0.0.0.0"])
    assert calls[0][-2:] == ["--address=127.0.0.1", "--port=5555"]
    assert calls[1][-2:] == ["--port=5555", "--address=0.0.0.0"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_flower_requires_credentials_and_shows_the_scraping_worker(start_worker, pipeline_env):
    port = free_port()
    worker = start_worker(queues="scraping", env=pipeline_env())
    env = child_env(FLOWER_BASIC_AUTH="ops:s3cret-test")
    flower = ChildProcess(
        [sys.executable, "-m", "project.flower", f"--port={port}", "--address=127.0.0.1"],
        log_path=ROOT / "test-artifacts" / "flower.log",
        env=env,
        mode="wb",
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def workers_listed():
            try:
                # refresh=1: ask the workers now (else Flower answers from its last inspection).
                r = httpx.get(
                    f"{base}/api/workers?refresh=1", auth=("ops", "s3cret-test"), timeout=10
                )
            except httpx.TransportError:
                return None
            return (r.status_code == 200 and r.json()) or None

        listed = wait_for(workers_listed, timeout=60, interval=1, message="Flower to list workers")
        name = next(n for n in listed if n.startswith(worker.name.split("@")[0]))
        queues = [q["name"] for q in listed[name]["active_queues"]]
        assert queues == ["scraping"]
        assert httpx.get(f"{base}/api/workers", timeout=5).status_code == 401
        assert httpx.get(f"{base}/", auth=("ops", "wrong"), timeout=5).status_code == 401
        # The broker page lists every queue, not only those of the workers that answered.
        broker_page = httpx.get(f"{base}/broker", auth=("ops", "s3cret-test"), timeout=10)
        assert broker_page.status_code == 200
        for queue in ("scraping", "default", "captcha"):
            assert f">{queue}<" in broker_page.text.replace(" ", "").replace("\n", ""), queue
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        assert metrics.status_code == 200 and "flower_" in metrics.text
    finally:
        # SIGTERM, then SIGKILL after 10 s: Flower's SIGTERM handler calls sys.exit(), which is
        # lost when the signal lands in a weakref callback ("Exception ignored ... SystemExit"
        # in its log), and Flower runs on (seen once in a loaded run).
        flower.stop(10)


@pytest.mark.django_db
def test_the_alert_admin_filters_by_kind_open_and_delivered(client):
    admin_user = User.objects.create_superuser("jefa", "jefa@example.com", "clave-segura-321")
    client.force_login(admin_user)
    now = timezone.now()
    Alert.objects.create(key="circuit-open", title="Circuito abierto", body="b")
    Alert.objects.create(
        key="failure-rate:1700000000", title="Tasa de fallos", body="b", delivered_at=now
    )
    Alert.objects.create(
        key="failure-rate:1700000300", title="Tasa resuelta", body="b", resolved_at=now
    )
    url = reverse("admin:ops_alert_changelist")

    def titles(**query) -> set[str]:
        response = client.get(url, query)
        assert response.status_code == 200
        return {alert.title for alert in response.context["cl"].result_list}

    assert titles(kind="failure-rate") == {"Tasa de fallos", "Tasa resuelta"}
    assert titles(kind="circuit-open") == {"Circuito abierto"}
    assert titles(open="yes") == {"Circuito abierto", "Tasa de fallos"}
    assert titles(open="no") == {"Tasa resuelta"}
    assert titles(delivered="yes") == {"Tasa de fallos"}
    assert titles(delivered="no", open="yes") == {"Circuito abierto"}
    # The record of what on-call was told is read, never written by hand.
    assert client.get(reverse("admin:ops_alert_add")).status_code == 403


@pytest.mark.django_db
def test_manage_circuit_probes_or_closes_by_hand_and_is_audited(redis, user, caplog):
    """`manage.py circuit --probe/--close [--key]`: what "probar ahora" does on /ops/, for a
    shell; every use leaves a WARNING line and an alert naming who did it."""
    from django.core.management import call_command

    from pipeline.egress import circuit_breaker

    def run(*args) -> str:
        out = io.StringIO()
        call_command("circuit", *args, stdout=out)
        return out.getvalue()

    breaker = circuit_breaker()
    breaker.trip("bot block")
    waiting = Referral.objects.create(cedula="1020304050", referred_by=user)
    assert "open" in run()  # without an action: the state of each circuit
    caplog.set_level("WARNING", logger="pipeline.resume")

    shown = run("--probe")
    assert f"cool-down ended; probe lookup: referral {waiting.pk}" in shown
    assert breaker.status().state == "half_open"  # the probe's answer decides
    assert broker.queued_referral_ids() == [waiting.pk]
    assert "circuit probe by hand" in caplog.text
    probe = Alert.objects.get(key__startswith="circuit-by-hand:")
    assert "manage.py circuit" in probe.body and probe.resolved_at is not None  # a record

    assert "circuit closed" in run("--close")
    assert breaker.status().state == "closed"
    assert Alert.objects.filter(key__startswith="circuit-by-hand:").count() == 2
    assert "circuit already closed" in run("--close")

    # --key: another egress's circuit, and only that one.
    other = circuit_breaker("proxy-b.example:3128")
    other.trip("bot block")
    breaker.trip("bot block")
    assert "circuit closed" in run("--close", "--key", "proxy-b.example:3128")
    assert other.status().state == "closed" and breaker.status().state == "open"
