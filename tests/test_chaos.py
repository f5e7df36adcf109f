"""Issue 14's acceptance run: the promise kept under real faults, with the production defaults
except the polite rate (60/m, to keep it short), the human pauses (off) and the circuit's
cool-down (30 s instead of 900 s: a pause the faults may cause is waited out, not its length).

Two scraping workers on one limiter key, a default worker and beat, on a Redis persisted like
production's; the simulator answers about 20 % of requests with a 503, a 429 with Retry-After,
a slow or a hung answer; both CPU cores are kept busy (`cpu_hogs`); one scraping worker is SIGKILLed
mid-lookup (and started again, as its supervisor would) and Redis is restarted once. Forty
referrals: all must end final, none failed or blocked, the site never sees two consultas closer
than the configured gap nor one referral in two overlapping runs, and no alert but the ones the
faults justify.
"""

import contextlib
import itertools
import subprocess
import sys
import time

import pytest

from harness.load import cpu_hogs
from ops.models import Alert
from pipeline import dispatch
from referrals.models import Referral, ScrapeAttempt, Status
from tests.procs import ROOT, BeatProcess, WorkerProcess, wait_for
from tests.test_guarantees import (
    ANSWERED,
    assert_never_two_runs_at_once,
    default_env,
    persistent_redis,  # noqa: F401 (a fixture)
)

REFERRALS = 40
RATE, INTERVAL = "60/m", 1.0
# Alerts the injected faults can justify: a failure rate above 20 % in the last hour and, when
# CIRCUIT_FAILURE_THRESHOLD (5) lookups in a row happen to fail (about one lookup in three meets
# a fault; seen in 1 run of 8), the circuit's pause: it then holds every lookup for
# CIRCUIT_COOLDOWN and the half-open probe resumes them. Each may be followed by the notice that
# it ended, and only then. The production cool-down (900 s) is shortened here: waiting it out
# proves nothing the circuit tests do not (tests/test_reliability.py), and a CI run cannot
# afford a quarter of an hour of one test sleeping.
JUSTIFIED = ("failure-rate:", "circuit-open:")
ENDS = {"failure-rate-recovered:": "failure-rate:", "circuit-closed:": "circuit-open:"}
COOLDOWN = 30  # the pause, when the faults cause one, is waited out: half a minute of the run
LAST_FINAL_WITHIN = 600


def unjustified(raised: list[str]) -> list[str]:
    """The alert keys the faults do not justify: not one of JUSTIFIED, nor the end of one raised."""
    left = []
    for key in raised:
        if key.startswith(JUSTIFIED):
            continue
        end = next((prefix for prefix in ENDS if key.startswith(prefix)), None)
        if end and ENDS[end] + key.removeprefix(end) in raised:
            continue
        left.append(key)
    return left


def stop_all(procs) -> None:
    """Stop them, the last started first; whatever interrupts a stop (a timeout), every one is
    still killed (a timed-out run once left two workers behind for a quarter of an hour)."""
    try:
        for proc in reversed(procs):
            proc.stop()
    finally:
        for proc in procs:
            proc.kill()  # nothing left to do for one already stopped


def runs_in_log(worker) -> tuple[int, int]:
    """(runs started, runs ended) as the worker's log shows them, once its browser is up. The
    log must be this run's alone (the test's tmp_path): in a log appended to by earlier runs,
    their victim's unfinished run counted, and the kill came before any lookup."""
    text = worker.log_path.read_bytes()
    if b"browser launched" not in text:
        return 0, 0
    return text.count(b"verify start"), text.count(b"verify end")


def kill_mid_lookup(worker, timeout: float) -> None:
    """SIGKILL the worker inside a run it has claimed: its page, captcha or consulta. Read off
    its log (asking the worker over the broker is too slow under the CPU hogs): a run under
    way, and a moment later the log unchanged. A run that ended in that moment (a fast lookup)
    is let go and the next one waited for: a kill between runs would prove nothing."""
    deadline = time.monotonic() + timeout

    def under_way():
        started, ended = runs_in_log(worker)
        return started > ended

    while True:
        wait_for(under_way, timeout=deadline - time.monotonic(), message="the victim mid-lookup")
        seen = runs_in_log(worker)
        time.sleep(0.3)  # past its claim (the attempt row), into the lookup
        if runs_in_log(worker) == seen:
            worker.sigkill_tree()
            return


def hog_share(*, idle_only: bool) -> float:
    """harness.load's measurement, run from a session of its own (see there)."""
    code = (
        "from harness.load import hog_share_beside_a_busy_process as share\n"
        f"print(share(idle_only={idle_only}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        start_new_session=True,
    )
    assert run.returncode == 0, run.stderr
    return float(run.stdout)


def test_idle_only_hogs_leave_the_cores_to_processes_in_other_sessions():
    """What the chaos run's hogs must do inside the suite: a worker or a browser (each in a
    session of its own) beside them keeps its core (a nice-19 hog took half of it here)."""
    assert hog_share(idle_only=True) < 0.1


def test_only_the_alerts_the_faults_justify_pass():
    assert not unjustified(["circuit-open:consultacenso", "circuit-closed:consultacenso"])
    assert not unjustified(["failure-rate:17", "failure-rate-recovered:17"])
    assert unjustified(["circuit-closed:consultacenso"]) == ["circuit-closed:consultacenso"]
    assert unjustified(["failure-rate-recovered:17", "failure-rate:18"]) == [
        "failure-rate-recovered:17"
    ]
    assert unjustified(["stale-referrals:3"]) == ["stale-referrals:3"]


# It saturates both cores on purpose (cpu_hogs). In the suite it starts first and runs beside
# the rest (tests/conftest.py); its timeout covers its own wait and the stops.
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.cpu_hogs
@pytest.mark.timeout(LAST_FINAL_WITHIN + 300)
def test_chaos_forty_referrals_all_final_politely(
    persistent_redis,  # noqa: F811 (the fixture imported above)
    simulator,
    user,
    request,
    record_property,
    tmp_path,
):
    from project.celery import app

    # Run alone (this module only), or with the rest of the suite beside it (make test).
    alone = all(item.path == request.node.path for item in request.session.items)

    for name, spec in (
        ("http_503", {"probability": 0.07, "target": "all"}),
        ("http_429", {"probability": 0.05, "retry_after": 3, "target": "consulta"}),
        ("slow", {"probability": 0.05, "delay": 4, "target": "all"}),
        ("hang", {"probability": 0.03, "target": "consulta"}),
    ):
        simulator.control.set_fault(name, **spec)
    env = default_env(
        simulator,
        REDIS_URL=persistent_redis.url,
        SCRAPING_RATE_LIMIT=RATE,
        CIRCUIT_COOLDOWN=COOLDOWN,
    )
    referrals = [
        Referral.objects.create(cedula=str(1_700_000_000 + i * 7_919), referred_by=user)
        for i in range(REFERRALS)
    ]
    procs = []
    with contextlib.ExitStack() as stack:
        stack.callback(stop_all, procs)
        # Stopped first, so the processes can stop in time.
        stack.enter_context(cpu_hogs(idle_only=not alone))

        def scraper(name):  # its log this run's only: see runs_in_log
            return WorkerProcess(
                queues="scraping", env=env, name=name, log=tmp_path / f"{name}.log"
            )

        scrapers = [scraper(f"chaos{n}") for n in range(2)]
        procs.extend(scrapers)  # registered before the waits: stop_all stops them whatever happens
        procs.append(WorkerProcess(queues="default", env=env, name="chaosd"))
        for worker in procs:
            worker.wait_ready(60)
        procs.append(BeatProcess(env=env, name="chaos"))
        started = time.monotonic()
        with app.connection_for_write(persistent_redis.url) as conn:
            for referral in referrals:
                app.send_task(dispatch.VERIFY_REFERRAL, args=(referral.pk,), connection=conn)
            # One whole scraping worker SIGKILLed mid-lookup, started again by its supervisor.
            victim = scrapers[0]
            kill_mid_lookup(victim, timeout=120)
            procs.remove(victim)
            procs.append(scraper("chaos0b"))
            procs[-1].wait_ready(60)
        # Redis restarts once (persisted, like production's appendonly).
        time.sleep(5)
        persistent_redis.stop()
        time.sleep(2)
        persistent_redis.start()

        wait_for(
            lambda: not Referral.objects.filter(status__in=Status.in_flight()).exists(),
            timeout=LAST_FINAL_WITHIN,
            interval=1,
            message="all referrals final",
        )
        last_final = time.monotonic() - started

    by_status = {}
    for referral in Referral.objects.all():
        by_status[referral.status] = by_status.get(referral.status, 0) + 1
        assert referral.status in ANSWERED, (referral.pk, referral.status, referral.last_error)
        assert_never_two_runs_at_once(referral)
    # The kill landed in a claimed run, and that run's referral was verified all the same.
    assert ScrapeAttempt.objects.filter(error_class="WorkerLost").exists()
    log = simulator.control.log()
    stamps = sorted(e["ts"] for e in log)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # A rate slot frees one interval after its consulta's answer reached the worker, so the
    # next consulta arrives at least an interval after the previous one arrived; 0.05 s is
    # for the two processes' clocks (measured: 1.12 and 1.17 s for a 1.0 s interval).
    assert min(gaps) >= INTERVAL - 0.05, sorted(gaps)[:5]
    # The site never had two consultas of one cédula out at once: each consulta is out from
    # its arrival until its answer left or its client went away (a hung one the worker gave up).
    spans: dict[str, list[tuple[float, float]]] = {}
    for entry in log:
        if entry.get("cedula"):
            end = entry.get("answered_ts") or float("inf")
            spans.setdefault(entry["cedula"], []).append((entry["ts"], end))
    for cedula, out in spans.items():
        out.sort()
        assert all(b[0] >= a[1] for a, b in itertools.pairwise(out)), (cedula, out)
    raised = sorted({a.key for a in Alert.objects.all()})
    assert not unjustified(raised), raised
    record_property(  # printed at the end of the run (tests/conftest.py)
        "summary",
        f"{REFERRALS} referrals final {last_final:.0f} s after publishing ({by_status}); "
        f"{len(log) / REFERRALS:.2f} consultas per referral; min gap {min(gaps):.2f} s; "
        f"alerts: {raised or 'none'}",
    )
