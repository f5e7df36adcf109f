"""Through the real parts: the portal view, Redis, a Celery worker process, Chromium, the
simulator of the Registraduría."""

import json

import pytest
from django.urls import reverse

from referrals.models import Referral, ScrapeAttempt, Status
from simulator import KNOWN_CEDULAS
from tests.procs import child_env, run_manage, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def test_referral_created_in_the_portal_is_verified_by_a_real_worker(
    client, django_user_model, start_worker, pipeline_env
):
    user = django_user_model.objects.create_user("dora", password="clave-segura-123")
    client.force_login(user)
    start_worker(env=pipeline_env())

    response = client.post(
        reverse("referrals:create"), {"authorized": "on", "cedula": "1.020.304.050"}
    )
    assert response.status_code == 302
    referral = Referral.objects.get(cedula=KNOWN_CEDULAS["found"])

    def finished():
        referral.refresh_from_db()
        return referral.status not in Status.in_flight()

    wait_for(finished, timeout=60, message="the worker to finish the referral")
    assert referral.status == Status.VERIFIED
    assert referral.attempts == 1 and referral.finished_at is not None
    assert referral.departamento and referral.municipio and referral.puesto and referral.mesa
    attempt = ScrapeAttempt.objects.get(referral=referral)
    assert attempt.outcome == "found" and attempt.duration_ms > 0

    detail = client.get(referral.get_absolute_url()).content.decode()
    # Final: the 3 s status polling stops (only the slow 20 s re-verify watcher stays).
    assert referral.puesto in detail and "every 3s" not in detail


def test_lookup_command_prints_the_census_answer(simulator):
    env = child_env(
        REGISTRADURIA_URL=simulator.url,
        CAPTCHA_API_URL=simulator.solver_url,
        CAPTCHA_API_KEY="test-key",
        CAPTCHA_POLL_INTERVAL="0.1",
        SCRAPING_HUMAN_PAUSES="0",
    )
    run = run_manage("lookup_cedula", "1.000.000.001", env=env)
    assert run.returncode == 0, run.stderr
    assert "1000000001: not_in_census" in run.stdout
    simulator.control.set_fault("bot_block", target="all")
    run = run_manage("lookup_cedula", "1020304050", env=env)
    assert run.returncode != 0 and "BotDetectedError" in run.stderr


def test_lookup_command_uses_the_first_source_that_answers_and_names_it(simulator):
    env = child_env(
        REGISTRADURIA_URL=simulator.url,
        REGISTRADURIA_WSP_URL=simulator.wsp_url,
        CENSUS_SOURCES="consultacenso,wsp",
        CAPTCHA_API_URL=simulator.solver_url,
        CAPTCHA_API_KEY="test-key",
        CAPTCHA_POLL_INTERVAL="0.1",
        SCRAPING_HUMAN_PAUSES="0",
    )
    run = run_manage("lookup_cedula", "1020304050", "--json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["source"] == "consultacenso"
    simulator.control.set_fault("bot_block", source="consultacenso")
    run = run_manage("lookup_cedula", "1020304050", "--json", env=env)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["source"] == "wsp" and answer["status"] == "found" and answer["mesa"]
    assert "consultacenso: BotDetectedError" in run.stderr
    # census_probe: both pages looked at, the blocked one said so, nothing submitted.
    before = simulator.control.state()["counters"].get("consultas", 0)
    run = run_manage("census_probe", env=env)
    assert run.returncode != 0
    assert "consultacenso: blocked" in run.stdout and "wsp: ok" in run.stdout
    assert simulator.control.state()["counters"].get("consultas", 0) == before
