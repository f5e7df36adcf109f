"""Issue 14: the promise kept with the default settings, through real workers, Redis and Chromium.

Each test names the item of the issue it proves. Timings are the production defaults unless a
test says why it changes one (the polite rate and the human pauses, to keep runs short).
"""

import itertools
import signal
import time

import pytest

from pipeline import broker, dispatch
from referrals.models import Referral, ScrapeAttempt, Status
from tests.procs import RedisServer, child_env, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

ANSWERED = (Status.VERIFIED, Status.NOT_FOUND, Status.CANCELLED, Status.IN_REVIEW)


def default_env(simulator, **overrides) -> dict:
    """Production defaults, pointed at the simulator and its solver; pauses off."""
    env = {
        "REGISTRADURIA_URL": simulator.url,
        "CAPTCHA_SOLVER": "twocaptcha",
        "CAPTCHA_API_URL": simulator.solver_url,
        "CAPTCHA_API_KEY": "test-key",
        "CAPTCHA_POLL_INTERVAL": "0.2",
        "SCRAPING_HUMAN_PAUSES": "0",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return child_env(**env)


def running_referral(worker) -> int | None:
    """The referral `worker` is verifying right now, if any (asked over the broker)."""
    from project.celery import app

    replies = app.control.inspect([worker.node], timeout=1).active() or {}
    for tasks in replies.values():
        for task in tasks:
            if task["name"] == dispatch.VERIFY_REFERRAL:
                return int(task["args"][0])
    return None


def assert_never_two_runs_at_once(referral: Referral) -> None:
    attempts = list(referral.scrape_attempts.order_by("started_at"))
    for before, after in itertools.pairwise(attempts):
        assert before.finished_at is not None and before.finished_at <= after.started_at


# --- item 1: a whole worker killed mid-lookup ----------------------------------------------


CONSULTA_DELAY = 4.0  # each consulta answers after 4 s, so the kill lands inside one


@pytest.mark.slow
def test_whole_worker_killed_mid_consulta_is_final_within_two_minutes(
    start_worker, simulator, user
):
    simulator.control.set_fault("slow", delay=CONSULTA_DELAY)
    env = default_env(simulator, SCRAPING_RATE_LIMIT="30/m")
    victim = start_worker(queues="scraping", env=env, name="victim")
    start_worker(queues="scraping", env=env, name="survivor")
    start_worker(queues="default", env=env, name="house")
    referrals = [
        Referral.objects.create(cedula=str(1_610_000_000 + i * 7_919), referred_by=user)
        for i in range(4)
    ]
    for referral in referrals:
        dispatch.publish_verification(referral.pk)

    def victim_mid_consulta():
        busy = running_referral(victim)
        if busy is None:
            return None
        cedula = Referral.objects.get(pk=busy).cedula
        log = simulator.control.log()
        pending = [e for e in log if e["cedula"] == cedula and e["outcome"] == "pending"]
        return busy if pending else None

    killed = wait_for(victim_mid_consulta, timeout=90, interval=0.2, message="a consulta")
    victim.sigkill_tree()
    killed_at = time.monotonic()

    wait_for(
        lambda: not Referral.objects.filter(status__in=Status.in_flight()).exists(),
        timeout=120,
        interval=0.5,
        message="every referral final within 2 minutes of the kill",
    )
    recovered_in = time.monotonic() - killed_at
    for referral in Referral.objects.all():
        assert referral.status in ANSWERED, (
            referral.pk,
            referral.status,
        )
        assert_never_two_runs_at_once(referral)
    # The killed run is on record, and its consulta was never sent again while it was alive.
    assert ScrapeAttempt.objects.filter(referral_id=killed, error_class="WorkerLost").exists()
    cedula = Referral.objects.get(pk=killed).cedula
    sent = sorted(e["ts"] for e in simulator.control.log() if e["cedula"] == cedula)
    assert len(sent) >= 2
    assert all(b - a >= CONSULTA_DELAY for a, b in itertools.pairwise(sent))
    print(f"\nkilled mid-consulta; every referral final {recovered_in:.0f} s after the kill")


def test_a_live_worker_keeps_the_countdowns_it_holds(start_worker, simulator, user):
    # A deferral waits in the worker that holds it, in `unacked`, well past WORKER_DEAD_AFTER:
    # its worker is alive, so nobody gives it back (it would run twice).
    env = default_env(simulator, WORKER_DEAD_AFTER="3s", WORKER_HEARTBEAT_EVERY="1s")
    worker = start_worker(queues="scraping", env=env, name="holder")
    referral = Referral.objects.create(cedula="1620000001", referred_by=user)
    dispatch.send(dispatch.VERIFY_REFERRAL, referral.pk, countdown=25)
    held = wait_for(
        lambda: broker.live_workers().get(worker.node, {}).get("held"),
        timeout=10,
        message="the worker's heartbeat lists the message it holds",
    )
    time.sleep(8)  # well past WORKER_DEAD_AFTER: the message must stay where it is
    assert broker.live_workers()[worker.node]["held"] == held
    assert broker.queued_referral_ids() == []
    assert broker.orphaned_tags() == []
    assert referral.pk in broker.referral_ids_with_tasks()


# --- item 2: a deploy stops a worker mid-lookup ---------------------------------------------


def test_warm_shutdown_mid_consulta_finishes_the_lookup_and_gives_back_the_rest(
    start_worker, simulator, user
):
    simulator.control.set_fault("slow", delay=CONSULTA_DELAY)
    env = default_env(simulator)
    worker = start_worker(queues="scraping", env=env, name="deployed")
    running = Referral.objects.create(cedula="1630000001", referred_by=user)
    later = Referral.objects.create(cedula="1630000002", referred_by=user)
    dispatch.publish_verification(running.pk)
    wait_for(
        lambda: any(e["cedula"] == running.cedula for e in simulator.control.log()),
        timeout=60,
        message="the consulta in flight",
    )
    dispatch.send(dispatch.VERIFY_REFERRAL, later.pk, countdown=300)  # held by the worker
    wait_for(lambda: broker.referral_ids_with_tasks() >= {later.pk}, message="held countdown")

    worker.proc.send_signal(signal.SIGTERM)  # what `docker compose stop` sends first
    worker.proc.wait(120)
    running.refresh_from_db()
    assert running.status == Status.VERIFIED
    assert not ScrapeAttempt.objects.filter(error_class="WorkerLost").exists()
    # The countdown it held is back in the queue at once, not in `unacked` for an hour.
    assert broker.queued_referral_ids() == [later.pk]
    assert broker.live_workers() == {}


# --- item 6: "verify again" at the attempt cap ---------------------------------------------


def test_requeue_at_the_attempt_cap_gives_a_fresh_start(start_worker, pipeline_env, user):
    from pipeline.verification import max_attempts
    from referrals.services import requeue_referrals

    referral = Referral.objects.create(
        cedula="1640000001",
        referred_by=user,
        status=Status.FAILED,
        attempts=max_attempts() + 1,
        requeue_count=2,
        last_error="gave up",
    )
    start_worker(queues="scraping", env=pipeline_env(), name="again")
    requeue_referrals(Referral.objects.filter(pk=referral.pk))
    wait_for(
        lambda: Referral.objects.get(pk=referral.pk).status not in Status.in_flight(),
        timeout=60,
        message="the re-queued referral final",
    )
    referral.refresh_from_db()
    assert referral.status in ANSWERED, referral.last_error
    assert (referral.attempts, referral.requeue_count) == (1, 0)
    assert referral.scrape_attempts.get().outcome in (
        ScrapeAttempt.Outcome.FOUND,
        ScrapeAttempt.Outcome.NOT_FOUND,
    )


# --- item 11: a Redis blip during a run ------------------------------------------------------


@pytest.fixture
def persistent_redis(tmp_path):
    """A Redis of our own, persisted like production's (appendonly), that the test can stop."""
    server = RedisServer(name="blip", persist=True, data_dir=tmp_path).start()
    yield server
    server.stop()


def test_a_redis_blip_during_a_run_is_retried_not_failed(
    persistent_redis, start_worker, simulator, user, settings
):
    # The page answers after 3 s; Redis goes away as the run starts, so the run meets the
    # outage at its rate slot, right before the consulta.
    simulator.control.set_fault("slow", delay=3, target="page")
    env = default_env(simulator, REDIS_URL=persistent_redis.url)
    start_worker(queues="scraping,default", env=env, name="blip")
    referral = Referral.objects.create(cedula="1660000001", referred_by=user)
    settings.CELERY_BROKER_URL = persistent_redis.url
    from project.celery import app

    with app.connection_for_write(persistent_redis.url) as conn:
        app.send_task(dispatch.VERIFY_REFERRAL, args=(referral.pk,), connection=conn)
    wait_for(
        lambda: Referral.objects.get(pk=referral.pk).status == Status.VERIFYING,
        timeout=60,
        interval=0.05,
        message="the run started",
    )
    persistent_redis.stop()
    # Redis stays away until the run has met the outage (its attempt ends), then returns.
    met = wait_for(
        lambda: referral.scrape_attempts.exclude(outcome=ScrapeAttempt.Outcome.RUNNING).first(),
        timeout=60,
        interval=0.2,
        message="the run meeting the outage",
    )
    time.sleep(3)  # and a little longer: the retry meets it too
    persistent_redis.start()
    wait_for(
        lambda: Referral.objects.get(pk=referral.pk).status not in Status.in_flight(),
        timeout=100,
        interval=0.5,
        message="the referral final after the blip",
    )
    referral.refresh_from_db()
    assert referral.status in ANSWERED, (referral.status, referral.last_error)
    assert (met.outcome, met.error_class) == (ScrapeAttempt.Outcome.RETRY, "RedisBlip")


# --- item 14: /healthz/pipeline --------------------------------------------------------------


def test_pipeline_health_answers_from_heartbeats_fast_and_keeps_detail_for_staff(
    client, start_worker, pipeline_env, staff_user
):
    from ops import monitoring

    start_worker(queues="scraping,default,captcha", env=pipeline_env(), name="health")
    monitoring.record_heartbeat(time.time())
    started = time.monotonic()
    answers = [client.get("/healthz/pipeline") for _ in range(50)]
    elapsed = time.monotonic() - started
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == {"status": "ok"}  # no detail for the public
    assert elapsed < 2.0, f"50 public requests took {elapsed:.1f} s"
    client.force_login(staff_user)
    checks = client.get("/healthz/pipeline").json()["checks"]
    assert checks == {
        "beat": "ok",
        "queue scraping": "ok",
        "queue default": "ok",
        "queue captcha": "ok",
        # Progress (issue 20): nothing stops the pipeline from making progress either.
        "circuit": "ok",
        "captcha solver": "ok",
        "oldest work": "ok",
    }


# --- item 8: a failed alert delivery is retried, and shown until it is delivered -----------


class FlakyWebhook:
    """An alert endpoint that answers 500 to its first `failures` posts, then 200."""

    def __init__(self, failures: int):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posts: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts.append(json.loads(body))
                self.send_response(500 if len(outer.posts) <= failures else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_an_alert_the_webhook_refuses_is_delivered_later_and_shown_meanwhile(
    start_worker, pipeline_env, client, staff_user
):
    from ops import alerts
    from ops.models import Alert

    hook = FlakyWebhook(failures=2)
    try:
        start_worker(queues="default", env=pipeline_env(ALERT_URLS=hook.url), name="pager")
        assert alerts.raise_alert("incident-flaky", "Prueba", "the webhook is having a bad minute")
        alert = Alert.objects.get(key="incident-flaky")
        wait_for(lambda: len(hook.posts) >= 1, timeout=30, message="the first delivery")
        wait_for(
            lambda: Alert.objects.get(pk=alert.pk).delivery_attempts >= 1,
            message="the failure recorded",
        )
        # Shown on /ops/ while undelivered (the next try is seconds away, with backoff).
        client.force_login(staff_user)
        page = client.get("/ops/").content.decode()
        assert 'data-testid="undelivered-alerts"' in page and "Prueba" in page
        wait_for(
            lambda: Alert.objects.get(pk=alert.pk).delivered_at is not None,
            timeout=90,
            interval=0.5,
            message="the alert delivered after the webhook recovered",
        )
    finally:
        hook.close()
    alert.refresh_from_db()
    assert len(hook.posts) == 3
    assert (alert.delivery_attempts, alert.delivery_error) == (3, "")
    assert not alerts.undelivered()[0]


# --- item 10: a missed rate slot defers ------------------------------------------------------


def test_a_missed_rate_slot_defers_without_spending_a_retry_or_a_failure(
    start_worker, simulator, user, redis
):
    import httpx

    from pipeline.captcha_pool import token_pool
    from pipeline.egress import rate_slots
    from scraping.captcha import SolvedToken

    env = default_env(simulator, SCRAPING_SLOT_MAX_WAIT="0.5")
    start_worker(queues="scraping", env=env, name="paced")
    # One pre-solved token in the pool (the default pool is on): the run that misses its slot
    # takes it first, and must not lose it.
    pool = token_pool()
    widget = f"{simulator.url}recaptcha/api2/userverify"
    pool.add(simulator.settings.sitekey, SolvedToken(httpx.post(widget, json={}).json()["token"]))
    slot = rate_slots().key
    redis.set(slot, "another worker", px=15_000)  # another worker's slot, for 15 s
    referral = Referral.objects.create(cedula="1670000001", referred_by=user)
    dispatch.publish_verification(referral.pk)
    wait_for(
        lambda: Referral.objects.get(pk=referral.pk).status not in Status.in_flight(),
        timeout=90,
        interval=0.5,
        message="the referral final once a slot came",
    )
    referral.refresh_from_db()
    assert referral.status in ANSWERED, referral.last_error
    assert referral.attempts == 1  # the missed slot was not a try
    outcomes = list(referral.scrape_attempts.values_list("outcome", flat=True))
    assert outcomes in (["found"], ["not_found"])  # no retry, no failure on record
    assert not redis.get(slot) or redis.get(slot) != b"another worker"
    # The pool token went back when the slot was missed and served the run that came back:
    # nothing was solved inline, nothing wasted.
    spend = pool.spend_over(hours=2)  # this hour and the last: the run may span both
    assert (spend.used, spend.wasted, spend.solved_inline) == (1, 0, 0)
    assert simulator.control.state()["counters"].get("solver_submits", 0) == 0


# --- item 4: one odd page is not a changed site ----------------------------------------------


def test_one_lookup_that_sees_a_changed_page_is_retried_without_an_alert(
    start_worker, pipeline_env, simulator, user
):
    from ops.models import Alert

    simulator.control.set_fault("markup_changed", count=1)  # one page load, then the real page
    start_worker(env=pipeline_env(SCRAPING_ELEMENT_TIMEOUT=3), name="odd")
    referral = Referral.objects.create(cedula="1690000001", referred_by=user)
    dispatch.publish_verification(referral.pk)
    wait_for(
        lambda: Referral.objects.get(pk=referral.pk).status not in Status.in_flight(),
        timeout=90,
        message="the referral final",
    )
    referral.refresh_from_db()
    assert referral.status in ANSWERED, referral.last_error
    assert referral.attempts == 2
    assert not Alert.objects.filter(key__startswith="scraping-PageChangedError").exists()


# --- item 5: `blocked` is not a dead end -----------------------------------------------------


def test_blocked_referrals_go_back_when_the_block_ends_and_a_failed_probe_blocks_no_more(
    start_worker, pipeline_env, simulator, user
):
    from ops.models import Alert

    simulator.control.set_fault("bot_block")
    start_worker(env=pipeline_env(CIRCUIT_COOLDOWN=5), name="probe")
    first = Referral.objects.create(cedula="1691000001", referred_by=user)
    dispatch.publish_verification(first.pk)
    wait_for(
        lambda: Referral.objects.get(pk=first.pk).status == Status.BLOCKED,
        timeout=60,
        message="the first referral blocked",
    )
    second = Referral.objects.create(cedula="1691000002", referred_by=user)
    dispatch.publish_verification(second.pk)
    # After the cool-down the second is the probe, and meets the block again ...
    wait_for(
        lambda: second.scrape_attempts.filter(outcome=ScrapeAttempt.Outcome.BLOCKED).exists(),
        timeout=60,
        message="a failed probe",
    )
    assert Referral.objects.get(pk=second.pk).status != Status.BLOCKED  # ... and waits on
    simulator.control.clear_faults()  # the block ends
    wait_for(
        lambda: (
            not Referral.objects.filter(status__in=[*Status.in_flight(), Status.BLOCKED])
            .filter(pk__in=[first.pk, second.pk])
            .exists()
        ),
        timeout=90,
        message="both verified once the block ended",
    )
    for referral in Referral.objects.filter(pk__in=[first.pk, second.pk]):
        assert referral.status in ANSWERED, (referral.pk, referral.status)
    keys = list(Alert.objects.values_list("key", flat=True))
    assert sorted(keys) == ["circuit-closed:consultacenso", "circuit-open:consultacenso"]


# --- item 3: the soft time limit cancels the lookup for real --------------------------------


@pytest.mark.slow
def test_a_lookup_past_its_soft_limit_never_sends_its_consulta(
    start_worker, pipeline_env, simulator, user
):
    # Hard limit 20 s, soft 15 s; the first captcha solve takes 25 s, past the soft limit.
    simulator.control.update_settings(solve_delay=25)
    env = pipeline_env(SCRAPING_TASK_TIME_LIMIT=20, CAPTCHA_TIMEOUT=60, CAPTCHA_POOL_SIZE_MAX=0)
    start_worker(env=env, name="soft")
    referral = Referral.objects.create(cedula="1692000001", referred_by=user)
    dispatch.publish_verification(referral.pk)
    wait_for(
        lambda: referral.scrape_attempts.filter(outcome=ScrapeAttempt.Outcome.RETRY).exists(),
        timeout=60,
        message="the soft time limit",
    )
    simulator.control.update_settings(solve_delay=0)  # the retry solves at once
    wait_for(
        lambda: Referral.objects.get(pk=referral.pk).status not in Status.in_flight(),
        timeout=90,
        message="the referral final",
    )
    time.sleep(12)  # past the abandoned solve's end: had it gone on, its consulta is out now
    referral.refresh_from_db()
    assert referral.status in ANSWERED, referral.last_error
    sent = [e for e in simulator.control.log() if e["cedula"] == referral.cedula]
    assert len(sent) == 1, sent  # the retry's consulta only
    assert_never_two_runs_at_once(referral)


@pytest.mark.slow
def test_a_lookup_cancelled_mid_solve_ends_at_once_and_the_worker_answers_the_next(
    start_worker, pipeline_env, simulator, user, redis
):
    import threading

    from pipeline.verification import run_lock_name

    # Hard limit 20 s, soft 15 s. The first solve would take 3 minutes (the default
    # CAPTCHA_TIMEOUT): had its lookup polled on, the worker's one browser thread stays busy.
    simulator.control.update_settings(solve_delay=180)
    env = pipeline_env(SCRAPING_TASK_TIME_LIMIT=20, CAPTCHA_TIMEOUT=180, CAPTCHA_POOL_SIZE_MAX=0)
    start_worker(env=env, name="cancel")
    interrupted = Referral.objects.create(cedula="1692000002", referred_by=user)
    following = Referral.objects.create(cedula="1692000003", referred_by=user)
    lock = run_lock_name(interrupted.pk)
    held = []  # (when, the interrupted referral's run lock exists), sampled all along
    sampling = threading.Event()

    def sample():
        while not sampling.wait(0.05):
            exists = bool(redis.exists(lock))
            held.append((time.time(), exists))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        dispatch.publish_verification(interrupted.pk)
        wait_for(simulator.control.solves, timeout=60, message="the first solve ordered")
        simulator.control.update_settings(solve_delay=0)  # every later solve is at once
        dispatch.publish_verification(following.pk)  # queued behind it, on the same worker
        soft_limit = wait_for(
            lambda: interrupted.scrape_attempts.filter(outcome=ScrapeAttempt.Outcome.RETRY).first(),
            timeout=60,
            message="the soft time limit",
        )
        wait_for(
            lambda: (
                not Referral.objects.filter(
                    pk__in=[interrupted.pk, following.pk], status__in=Status.in_flight()
                ).exists()
            ),
            timeout=60,
            message="both referrals final",
        )
        time.sleep(2)  # had the abandoned solve gone on polling, it shows now
    finally:
        sampling.set()
        sampler.join(5)
    abandoned = simulator.control.solves()[0]
    ended_at = abandoned["last_poll_at"]
    # The cancel stopped the solve within a couple of seconds of the soft limit ...
    assert not abandoned["solved"]
    assert "soft time limit" in soft_limit.error_message
    assert ended_at < soft_limit.started_at.timestamp() + 15 + 2, abandoned
    assert ended_at <= soft_limit.finished_at.timestamp()  # the run ended after its lookup
    # ... and the run lock stayed held until then (absent before the claim, not after it).
    claimed_at = min(t for t, exists in held if exists)
    freed = [t for t, exists in held if not exists and t > claimed_at]
    assert all(t > ended_at for t in freed), (ended_at, freed[:3])
    # The worker's browser thread was free at once: the next referral was answered promptly.
    following.refresh_from_db()
    assert following.status in ANSWERED, following.last_error
    assert following.attempts == 1  # its lookup did not wait behind the old one past its limit
    assert following.finished_at.timestamp() - soft_limit.finished_at.timestamp() < 30
    interrupted.refresh_from_db()
    assert interrupted.status in ANSWERED, interrupted.last_error
    # Only the retry's consulta left for the interrupted referral.
    sent = [e["cedula"] for e in simulator.control.log()]
    assert sorted(sent) == sorted([interrupted.cedula, following.cedula]), sent
    assert_never_two_runs_at_once(interrupted)
