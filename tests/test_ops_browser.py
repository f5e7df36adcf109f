"""What ops and leaders see during an outage, in a real Chromium against the live server, real
workers, Redis and the simulator's faults: the pause banner, the alerts panel, the held work,
the circuit and its "probar ahora", the solver's state, and an honest /healthz/pipeline."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from ops import health as ops_health
from ops import monitoring
from pipeline import broker, dispatch
from referrals.models import Referral, Status
from simulator import KNOWN_CEDULAS
from tests.browsers import launch_portal_browser
from tests.procs import wait_for
from tests.test_portal_browser import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PASSWORD = "una-clave-larga-99"


def in_thread(fn, *args):
    """Run an ORM call off the test's thread: Playwright's sync API keeps an event loop running
    there, and Django refuses ORM calls from such a thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture
def browser(live_server, settings):
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    with sync_playwright() as playwright:
        chromium = launch_portal_browser(playwright)

        def open_as(username):
            context = chromium.new_context(base_url=live_server.url, locale="es-CO")
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(reverse("login"))
            page.get_by_label("Nombre de usuario").fill(username)
            page.get_by_label("Contraseña").fill(PASSWORD)
            page.get_by_role("button", name="Entrar").click()
            expect(page.get_by_role("heading", name="Mis referidos")).to_be_visible()
            return page

        yield open_as
        chromium.close()


@pytest.fixture
def people(transactional_db):
    User.objects.create_user("lidera", password=PASSWORD)
    User.objects.create_user("guardia", password=PASSWORD, is_staff=True)


def register(cedula):
    def create():
        referral = Referral.objects.create(
            cedula=cedula, full_name="Ana", referred_by=User.objects.get(username="lidera")
        )
        dispatch.publish_verification(referral.pk)
        return referral.pk

    return in_thread(create)


def status_of(pk):
    return in_thread(lambda: Referral.objects.get(pk=pk).status)


def health(page) -> tuple[int, dict]:
    response = page.request.get(reverse("healthz-pipeline"))
    return response.status, response.json()


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def test_bot_block_is_on_screen_and_probar_ahora_resumes(
    people, browser, start_worker, pipeline_env, simulator, redis
):
    simulator.control.set_fault("bot_block", target="all")
    start_worker(queues="scraping,default,captcha", env=pipeline_env(CIRCUIT_COOLDOWN=120))
    monitoring.record_heartbeat(time.time())  # beat is alive: only the block stops progress
    blocked = register(KNOWN_CEDULAS["found"])
    wait_for(lambda: status_of(blocked) == Status.BLOCKED, timeout=60, message="the block")
    waiting = register(KNOWN_CEDULAS["not_in_census"])
    # Deferred by the open circuit: a worker holds it until its countdown, the list is empty.
    wait_for(
        lambda: broker.work_counts()["scraping"]["scheduled"] == 1,
        timeout=30,
        message="the deferred lookup held by the worker",
    )
    assert broker.work_counts()["scraping"]["waiting"] == 0

    leader = browser("lidera")
    banner = leader.get_by_test_id("pause-banner")
    expect(banner).to_contain_text("Verificación en pausa")
    expect(banner).to_contain_text("bloqueó nuestras consultas")
    expect(banner).to_contain_text("Volveremos a intentarlo hacia las")
    shot(leader, "pause-banner-list")
    leader.goto(reverse("referrals:detail", args=[waiting]))
    expect(leader.get_by_test_id("pause-banner")).to_be_visible()
    leader.goto(reverse("referrals:list"))

    ops = browser("guardia")
    ops.goto(reverse("ops-dashboard"))
    expect(ops.get_by_test_id("circuit")).to_have_attribute("data-state", "open")
    alert = ops.locator('[data-testid="open-alert"][data-key="circuit-open:consultacenso"]')
    expect(alert).to_contain_text("nos bloqueó")
    expect(alert).to_contain_text("abierta hace")
    expect(ops.get_by_test_id("no-alert-channel")).to_be_visible()  # no ALERT_URLS, no ADMINS
    scraping = ops.get_by_test_id("queue-scraping")
    expect(scraping).to_have_attribute("data-scheduled", "1")
    expect(scraping).to_have_attribute("data-total", "1")
    shot(ops, "ops-during-bot-block")

    status, body = health(ops)
    assert status == 503 and body["status"] == "degraded", body
    assert body["checks"]["circuit"].startswith("degraded: open"), body
    assert any("bot block" in reason for reason in body["reasons"]), body

    simulator.control.clear_faults()  # ops fixed the cause: no need to wait out 120 s
    ops.get_by_test_id("probe-now").click()
    expect(ops.locator(".msg-success")).to_contain_text("consulta de prueba")
    wait_for(lambda: status_of(waiting) == Status.NOT_FOUND, timeout=60)
    expect(ops.get_by_test_id("circuit")).to_have_attribute("data-state", "closed", timeout=20_000)
    expect(ops.get_by_test_id("no-open-alerts")).to_be_visible()
    expect(banner).to_have_count(0, timeout=10_000)  # the list keeps polling while paused
    shot(leader, "pause-banner-gone")

    # /healthz/pipeline answers from a few seconds' cache (ops.health, tested in test_health):
    # a fast run read the answer cached before the probe ("113 s of cool-down left"). Here,
    # the answer once that cache has turned over.
    ops_health.clear_cache()
    status, body = health(ops)
    assert body["checks"]["circuit"] == "ok" and body["checks"]["oldest work"] == "ok", body

    # The blocked referral went back to the queue when the circuit closed (issue 14, item 5)
    # and got its answer like the other one.
    def statuses():
        return sorted(in_thread(lambda: list(Referral.objects.values_list("status", flat=True))))

    wait_for(lambda: statuses() == sorted([Status.VERIFIED, Status.NOT_FOUND]), timeout=60)


def test_solver_down_is_on_ops_and_health_is_degraded(
    people, browser, start_worker, pipeline_env, simulator, redis
):
    simulator.control.set_fault("solver_down", error="ERROR_ZERO_BALANCE")
    start_worker(queues="scraping,default,captcha", env=pipeline_env())
    monitoring.record_heartbeat(time.time())
    failed = register(KNOWN_CEDULAS["found"])
    wait_for(lambda: status_of(failed) == Status.FAILED, timeout=60, message="the failure")

    ops = browser("guardia")
    ops.goto(reverse("ops-dashboard"))
    expect(ops.get_by_test_id("solver-paused")).to_have_attribute("data-paused", "true")
    expect(ops.get_by_test_id("solver-paused")).to_contain_text("en pausa hasta las")
    expect(ops.get_by_test_id("solver-last-error")).to_contain_text("ERROR_ZERO_BALANCE")
    expect(
        ops.locator('[data-testid="open-alert"][data-key="scraping-CaptchaSolverUnavailable"]')
    ).to_be_visible()
    shot(ops, "ops-solver-down")

    status, body = health(ops)
    assert status == 503 and body["status"] == "degraded", body
    assert "ERROR_ZERO_BALANCE" in body["checks"]["captcha solver"], body

    leader = browser("lidera")
    expect(leader.get_by_test_id("pause-banner")).to_have_attribute("data-cause", "solver")
    shot(leader, "pause-banner-solver")
