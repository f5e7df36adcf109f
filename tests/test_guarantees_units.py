"""Issue 14: the fast parts of the guarantees (system checks, services, logging), no processes."""

import logging
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone

from pipeline import broker, sweep, verification
from pipeline.checks import check_celery_timing
from project.durations import parse_duration
from project.redaction import RedactingFilter, redact, scrub_event
from referrals.models import Referral, Status
from scraping.captcha import TwoCaptchaSolver
from tests.procs import ROOT, child_env, wait_for


def ids(errors):
    return sorted(e.id for e in errors)


def test_dead_after_shorter_than_three_heartbeats_is_an_error(settings):
    settings.WORKER_HEARTBEAT_EVERY = 5
    settings.WORKER_DEAD_AFTER = 10
    assert ids(check_celery_timing()) == ["pipeline.E004"]


def test_a_run_lock_lease_too_short_to_renew_is_an_error(settings):
    settings.SCRAPING_RUN_LOCK_LEASE = 3
    assert ids(check_celery_timing()) == ["pipeline.E005"]


def test_deploys_give_workers_longer_than_the_hard_time_limit_to_stop(settings):
    # Item 2: Docker's default 10 s would SIGKILL a lookup in progress on every deploy.
    compose = yaml.safe_load((Path(__file__).parent.parent / "docker-compose.yml").read_text())
    services = compose["services"]
    limits = {
        "worker-scraping": settings.SCRAPING_TASK_TIME_LIMIT,
        "worker-default": settings.CELERY_TASK_TIME_LIMIT,
        "worker-captcha": settings.CELERY_TASK_TIME_LIMIT,
    }
    for name, limit in limits.items():
        grace = parse_duration(services[name].get("stop_grace_period", "10s"))
        assert grace > limit, (name, grace, limit)


# --- item 7: claim and sweep race; item 12: two sweeps at once -----------------------------


def _old(referral, minutes=90):
    Referral.objects.filter(pk=referral.pk).update(
        updated_at=timezone.now() - timedelta(minutes=minutes)
    )


@pytest.fixture
def published(monkeypatch):
    sent = []
    monkeypatch.setattr("pipeline.dispatch.publish_verification", sent.append)
    return sent


@pytest.mark.django_db(transaction=True)
def test_a_claim_counts_as_progress_for_the_sweep(redis, user, published):
    referral = Referral.objects.create(cedula="1650000001", referred_by=user)
    _old(referral)
    assert verification.claim_referral(referral.pk, "run-1") is not None
    assert sweep.sweep_stale_referrals().requeued == []
    referral.refresh_from_db()
    assert (referral.status, referral.claimed_by) == (Status.VERIFYING, "run-1")


@pytest.mark.django_db(transaction=True)
def test_a_run_that_claims_during_the_sweep_keeps_its_claim(redis, user, published, monkeypatch):
    # The sweep reads the stale rows, then asks the broker; the run claims in between.
    referral = Referral.objects.create(cedula="1650000002", referred_by=user)
    _old(referral)
    real = broker.referral_ids_with_tasks

    def claim_meanwhile():
        verification.claim_referral(referral.pk, "run-2")
        return real()

    monkeypatch.setattr(broker, "referral_ids_with_tasks", claim_meanwhile)
    assert sweep.sweep_stale_referrals().requeued == []
    referral.refresh_from_db()
    assert (referral.status, referral.claimed_by) == (Status.VERIFYING, "run-2")
    assert published == []


@pytest.mark.django_db(transaction=True)
def test_the_sweep_leaves_a_referral_whose_run_holds_its_lock(redis, user, published):
    referral = Referral.objects.create(cedula="1650000003", referred_by=user)
    verification.claim_referral(referral.pk, "run-3")
    _old(referral)
    redis.set(verification.run_lock_name(referral.pk), "token", ex=30)
    assert sweep.sweep_stale_referrals().requeued == []
    redis.delete(verification.run_lock_name(referral.pk))
    assert sweep.sweep_stale_referrals().requeued == [referral.pk]
    assert published == [referral.pk]


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_requeue_once(redis, user, published, monkeypatch):
    referrals = [
        Referral.objects.create(cedula=str(1_650_000_010 + i), referred_by=user) for i in range(3)
    ]
    for referral in referrals:
        _old(referral)
    inside, go_on = threading.Event(), threading.Event()
    real = broker.referral_ids_with_tasks

    def slow_broker_read():
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            go_on.wait(10)
        return real()

    monkeypatch.setattr(broker, "referral_ids_with_tasks", slow_broker_read)
    reports = []
    first = threading.Thread(target=lambda: reports.append(sweep.sweep_stale_referrals()))
    first.start()
    assert inside.wait(10)
    second = sweep.sweep_stale_referrals()  # while the first is between its read and update
    go_on.set()
    first.join(10)
    assert second.requeued == []
    assert sorted(reports[0].requeued) == sorted(r.pk for r in referrals)
    assert sorted(published) == sorted(r.pk for r in referrals)


# --- item 15: secrets in logs and error reports -------------------------------------------

API_KEY = "k3y-0f-the-s0lver-5ecret"


def test_a_real_solve_logs_no_request_url_and_no_key(simulator, caplog):
    caplog.set_level(logging.DEBUG, logger="")  # everything the configured loggers let through
    solver = TwoCaptchaSolver(simulator.solver_url, API_KEY, poll_interval=0.05)
    site_key = simulator.control.state()["settings"]["sitekey"]
    try:
        assert solver.solve(site_key=site_key, page_url=simulator.url).token
    finally:
        solver.close()
    assert API_KEY not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore"))]


def test_every_log_line_loses_url_queries_and_key_pairs():
    console = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactingFilter) for f in h.filters)
    ]
    assert console, "the console handler redacts"
    record = logging.LogRecord(
        "httpx", logging.WARNING, __file__, 1, "GET %s failed (api_key=%s)",
        ("http://solver/res.php?key=" + API_KEY + "&id=7", API_KEY), None,
    )  # fmt: skip
    assert all(f.filter(record) for f in console[0].filters)
    line = record.getMessage()
    assert API_KEY not in line and "http://solver/res.php?[query removed]" in line


def test_sentry_events_lose_keys_urls_and_cedulas():
    event = {
        "message": "lookup of 1.020.304.050 failed",
        "exception": {"values": [{"value": f"GET https://x/in.php?key={API_KEY} (ced 52345678)"}]},
        "breadcrumbs": {"values": [{"message": f"token={API_KEY}", "data": {"n": 3}}]},
        "extra": {"cedula": "1020304050"},
    }
    text = repr(scrub_event(event))
    for leaked in (API_KEY, "1.020.304.050", "1020304050", "52345678"):
        assert leaked not in text
    assert redact("see https://site/path") == "see https://site/path"


def test_the_settings_wire_sentry_through_the_scrubber():
    code = (
        "import django; django.setup(); import sentry_sdk; "
        "print(sentry_sdk.get_client().options['before_send'].__qualname__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_env(
            SENTRY_DSN="http://public@127.0.0.1:9/1", DJANGO_SETTINGS_MODULE="project.settings"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "scrub_event", out.stderr


# --- item 9: two workers on one egress -------------------------------------------------------


def test_a_success_admitted_before_a_block_does_not_close_the_circuit(redis):
    from scraping.circuit import CircuitBreaker, CircuitState

    def worker_breaker():  # each worker builds its own, on the same Redis and egress key
        return CircuitBreaker(redis, cooldown=60, failure_threshold=5, probe_lease=30)

    a, b = worker_breaker(), worker_breaker()
    assert b.allow("run-b") == (True, 0.0)  # B's lookup leaves while the circuit is closed
    assert a.allow("run-a") == (True, 0.0)
    assert a.trip("bot block") is True  # A meets a bot block
    assert b.record_success("run-b") is False  # B's answer comes back afterwards
    assert a.status().state is CircuitState.OPEN
    assert b.allow("run-c")[0] is False


# --- item 13: referrals flagged "delayed" ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_referral_lost_past_its_requeues_ends_final_and_reaches_ops(
    redis, user, published, settings, client, staff_user
):
    from ops.models import Alert
    from referrals.services import requeue_referrals

    settings.STALE_MAX_REQUEUES = 1
    referral = Referral.objects.create(cedula="1680000001", referred_by=user, requeue_count=1)
    _old(referral)
    report = sweep.sweep_stale_referrals()
    assert report.flagged == [referral.pk]
    referral.refresh_from_db()
    assert referral.status == Status.FAILED and referral.finished_at is not None
    assert referral.last_error == sweep.DELAYED_MESSAGE
    assert Alert.objects.filter(key__startswith="stale-digest").count() == 1
    client.force_login(staff_user)
    assert "1 demorados" in client.get("/ops/").content.decode()
    # "Verify again" gives it a fresh start, and a claim (progress) resets the re-queue count.
    requeue_referrals(Referral.objects.filter(pk=referral.pk))
    referral.refresh_from_db()
    assert (referral.status, referral.requeue_count, referral.stale_flagged_at) == (
        Status.PENDING,
        0,
        None,
    )
    Referral.objects.filter(pk=referral.pk).update(requeue_count=1)
    verification.claim_referral(referral.pk, "run-9")
    assert Referral.objects.get(pk=referral.pk).requeue_count == 0


# --- item 5: a long block pages again, and ops see its age -----------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_long_block_pages_again_on_an_escalating_schedule(redis, client, staff_user):
    import json
    import time

    from ops import monitoring
    from ops.models import Alert
    from pipeline.egress import circuit_breaker

    now = time.time()

    def open_since(hours):
        opened = now - hours * 3600
        payload = {"until": now + 600, "reason": "bot block", "opened_at": opened}
        redis.set(circuit_breaker().open_key, json.dumps(payload))

    def pages():
        return Alert.objects.filter(key__startswith="circuit-still-open").count()

    open_since(0.5)
    monitoring.check_circuit(now)
    assert pages() == 0
    open_since(1.2)
    monitoring.check_circuit(now)
    monitoring.check_circuit(now)
    assert pages() == 1  # once per step
    open_since(4.5)
    monitoring.check_circuit(now)
    open_since(30)
    monitoring.check_circuit(now)
    open_since(50)
    monitoring.check_circuit(now)
    assert pages() == 4  # 1 h, 4 h, 24 h, 48 h
    client.force_login(staff_user)
    assert 'data-testid="circuit-age"' in client.get("/ops/").content.decode()


# --- item 3: a cancelled lookup stops its captcha solve at once ------------------------------


def test_a_cancelled_solve_stops_polling_the_solver_at_once(simulator):
    from scraping.errors import LookupCancelled

    simulator.control.update_settings(solve_delay=180)  # the default CAPTCHA_TIMEOUT, and more
    site_key = simulator.control.state()["settings"]["sitekey"]
    # The default poll interval: the cancel must cut the pause short, not wait for the next poll.
    solver = TwoCaptchaSolver(simulator.solver_url, "test-key", timeout=180, poll_interval=5)
    cancelled = threading.Event()
    raised = []

    def solve():
        try:
            solver.solve(site_key=site_key, page_url=simulator.url, cancelled=cancelled)
        except Exception as exc:
            raised.append(exc)

    solving = threading.Thread(target=solve)
    solving.start()
    try:
        wait_for(lambda: simulator.control.state()["counters"].get("solver_submits"), timeout=10)
        cancelled.set()
        started = time.monotonic()
        solving.join(10)
        assert not solving.is_alive()
        assert time.monotonic() - started < 1.0
    finally:
        cancelled.set()
        solving.join(10)
        solver.close()
    assert len(raised) == 1 and isinstance(raised[0], LookupCancelled), raised
    polls = simulator.control.state()["counters"].get("solver_polls", 0)
    time.sleep(1)
    assert simulator.control.state()["counters"].get("solver_polls", 0) == polls


class SlowSolver:
    """A fake solver: its first solve takes `first_solve_seconds` (2captcha on a bad day),
    unless the lookup is cancelled, which ends it at once as a real solver's poll loop does;
    the solves after it are instant tokens from the simulator's widget."""

    name = "slow-fake"

    def __init__(self, simulator, first_solve_seconds: float):
        self.simulator = simulator
        self.first_solve_seconds = first_solve_seconds
        self.solving = threading.Event()
        self.solves = 0

    def solve(self, *, site_key, page_url, page=None, cancelled=None):
        import httpx

        from scraping.captcha import SolvedToken
        from scraping.errors import CaptchaError, LookupCancelled

        self.solves += 1
        if self.solves == 1:
            self.solving.set()
            if cancelled is None:
                raise AssertionError("the solve was not given the lookup's cancel event")
            if cancelled.wait(self.first_solve_seconds):
                raise LookupCancelled("cancelled during the fake solve")
            raise CaptchaError("fake solve timed out")
        widget = f"{self.simulator.url}recaptcha/api2/userverify"
        return SolvedToken(httpx.post(widget, json={}).json()["token"])


@pytest.mark.browser
def test_a_lookup_cancelled_mid_solve_ends_at_once_and_the_next_lookup_runs(simulator):
    from scraping import client as census_client
    from scraping.errors import LookupCancelled
    from simulator import KNOWN_CEDULAS
    from simulator.testing import simulator_config

    solver = SlowSolver(simulator, first_solve_seconds=180)
    census_client.configure_default_client(simulator_config(simulator), solver=solver)
    interrupted = KNOWN_CEDULAS["found"]
    outcome = []

    def task_thread():  # the Celery task's thread, whose wait the soft time limit interrupts
        try:
            outcome.append(census_client.lookup_cedula(interrupted))
        except Exception as exc:
            outcome.append(exc)

    task = threading.Thread(target=task_thread)
    task.start()
    try:
        assert solver.solving.wait(30), "the lookup never reached its captcha solve"
        started = time.monotonic()
        assert census_client.cancel_lookup(wait=10).ended is True
        assert time.monotonic() - started < 2.0  # not the solve's 180 s
        task.join(5)
        assert len(outcome) == 1 and isinstance(outcome[0], LookupCancelled), outcome
        open_contexts = census_client._browser_executor().submit(
            lambda: census_client.default_client().open_contexts()
        )
        assert open_contexts.result(5) == 0  # its page and context closed
        # The browser thread is free: the next lookup runs at once, not after the old solve.
        started = time.monotonic()
        assert census_client.lookup_cedula(KNOWN_CEDULAS["not_in_census"]).status == (
            "not_in_census"
        )
        assert time.monotonic() - started < 15
    finally:
        census_client.cancel_lookup(wait=10)
        task.join(10)
        census_client.close_default_client()
        census_client.configure_default_client()
    sent = [entry["cedula"] for entry in simulator.control.log()]
    assert sent == [KNOWN_CEDULAS["not_in_census"]]  # the cancelled lookup's consulta never left


@pytest.mark.browser
def test_a_lookup_cancelled_while_its_consulta_hangs_stops_waiting_at_once(simulator):
    from scraping import client as census_client
    from scraping.errors import LookupCancelled
    from simulator import KNOWN_CEDULAS
    from simulator.testing import simulator_config

    simulator.control.set_fault("hang", count=1)  # the consulta leaves and is never answered
    census_client.configure_default_client(simulator_config(simulator, api_timeout=60))
    outcome = []

    def task_thread():
        try:
            outcome.append(census_client.lookup_cedula(KNOWN_CEDULAS["found"]))
        except Exception as exc:
            outcome.append(exc)

    task = threading.Thread(target=task_thread)
    task.start()
    try:
        wait_for(simulator.control.log, timeout=30, message="the consulta out")
        started = time.monotonic()
        assert census_client.cancel_lookup(wait=10).ended is True
        assert time.monotonic() - started < 2.0  # not the API timeout's 60 s
        task.join(5)
        assert len(outcome) == 1 and isinstance(outcome[0], LookupCancelled), outcome
    finally:
        census_client.cancel_lookup(wait=10)
        task.join(10)
        census_client.close_default_client()
        census_client.configure_default_client()


def test_a_cancelled_lookup_stops_waiting_for_a_pool_token_or_a_rate_slot(redis):
    from pipeline import captcha_pool
    from scraping.errors import LookupCancelled
    from scraping.ratelimit import RateSlots, SlotWaitCancelled

    pool = captcha_pool.token_pool()
    pool.remember_target("site-key", "http://census/")
    redis.set("captcha:solve-seconds", 60)
    pool.mark_started("on-its-way")  # a pool solve due in a minute: the lookup waits for it
    slots = RateSlots(redis, interval=60)
    assert slots.try_acquire() == 0.0  # another lookup's slot: the next is a minute away
    waits = {
        "pool token": lambda cancelled: captcha_pool.take_or_wait(
            "site-key", "http://census/", cancelled=cancelled
        ),
        "rate slot": lambda cancelled: slots.wait_for_slot(90, cancelled),
    }
    for what, wait in waits.items():
        cancelled = threading.Event()
        threading.Timer(0.5, cancelled.set).start()
        started = time.monotonic()
        with pytest.raises(LookupCancelled) as ended:
            wait(cancelled)
        assert time.monotonic() - started < 1.5, what
        if what == "rate slot":  # our own pacing: the run defers until the slot frees
            assert isinstance(ended.value, SlotWaitCancelled)
            assert 55 < ended.value.retry_after <= 60


# --- item 10: a missed rate slot wastes no captcha token -------------------------------------


@pytest.mark.browser
def test_a_missed_rate_slot_gives_the_pool_token_back(simulator, redis, settings):
    import httpx

    from pipeline import captcha_pool
    from pipeline.egress import pace_submission, rate_slots
    from scraping import client as census_client
    from scraping.captcha import NoSolver, SolvedToken
    from scraping.ratelimit import NoSlotError
    from simulator import KNOWN_CEDULAS
    from simulator.testing import simulator_config

    settings.SCRAPING_SLOT_MAX_WAIT = 0.3
    site_key = simulator.control.state()["settings"]["sitekey"]
    pool = captcha_pool.token_pool()
    widget = f"{simulator.url}recaptcha/api2/userverify"
    pool.add(site_key, SolvedToken(httpx.post(widget, json={}).json()["token"]))
    redis.set(rate_slots().key, "another worker", px=60_000)  # the next slot is a minute away
    # The worker's client (pipeline.signals), with no solver: only the pool token can serve.
    census_client.configure_default_client(
        simulator_config(simulator),
        pacer=pace_submission,
        token_source=captcha_pool.take_or_wait,
        give_back_token=captcha_pool.give_back,
        solver=NoSolver(),
    )
    try:
        with pytest.raises(NoSlotError):
            census_client.lookup_cedula(KNOWN_CEDULAS["found"])
        assert pool.ready(site_key) == 1  # the token is back: the pool is as it was
        assert simulator.control.log() == []  # the consulta never left
        redis.delete(rate_slots().key)  # a slot is free: the deferred run comes back
        assert census_client.lookup_cedula(KNOWN_CEDULAS["found"]).is_found  # with that token
    finally:
        census_client.close_default_client()
        census_client.configure_default_client()
    assert pool.ready(site_key) == 0
    hour = pool.spend_over(hours=2)  # this hour and the last: a test may straddle them
    assert (hour.solved_ahead, hour.used, hour.wasted) == (1, 1, 0)
    assert simulator.control.state()["counters"].get("token_rejections", 0) == 0
