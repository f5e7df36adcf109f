import atexit
import contextlib
import os
import signal
import sys

import execnet
import pytest
import redis as redis_lib
from django.conf import settings
from django.contrib.auth.models import User

from simulator import testing as simulator_fixtures
from tests.browsers import close_kept_browsers
from tests.procs import ROOT, WorkerProcess, child_env

# One simulator for the whole run (session), reset before and after each test that takes it;
# tests/scraping uses the same one.
census_simulator = simulator_fixtures.census_simulator
simulator = simulator_fixtures.simulator


def _interrupted(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    """A run stopped with SIGTERM (`kill`, a CI job's timeout) ends like Ctrl-C: the fixtures'
    teardowns run, so no worker, beat, Redis or browser a test started is left behind (Python's
    default for SIGTERM is to die on the spot, finalizers and all).

    Playwright's Node driver keeps its compiled code between starts (Node's compile cache): the
    suite starts about 90 drivers, in its own processes and its workers', and a start costs
    0.33 CPU-s with the cache against 0.41 without it."""
    signal.signal(signal.SIGTERM, _interrupted)
    os.environ.setdefault("NODE_COMPILE_CACHE", str(ROOT / "var" / "node-compile-cache"))


def pytest_unconfigure(config):
    """A parallel test process (pytest-xdist) ends without Python's own finalization."""
    if hasattr(config, "workerinput"):
        atexit.register(_exit_without_finalizing)


def _exit_without_finalizing():
    """Registered last, so it runs first: the other exit handlers, then stdio flushed and
    `os._exit`. At the end of `make test` the nine processes reached their exit handlers
    together, and took 3 to 5 s more, each, to tear down their modules and free their heaps,
    all at once on two cores, before the run could end. By now every test's and session's
    teardown has run (each stopped what it started) and the process's results are with the
    controller; freeing memory the kernel takes back anyway helps no one."""
    atexit.unregister(_exit_without_finalizing)
    atexit._run_exitfuncs()  # as the interpreter would, in the same order
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def pytest_xdist_setupnodes(config, specs):
    """`make test` runs the suite in parallel processes (pytest-xdist). Each gets its own Redis
    database (TEST_REDIS_DB 15, 14, ...: REDIS_URL in pyproject.toml is built from it) so no
    process sees another's queues, locks or heartbeats; pytest-django already gives each its own
    test database (the name suffixed _gw0, _gw1, ...). An execnet env value cannot hold "//",
    hence a number, not a URL."""
    base = int(os.environ.get("TEST_REDIS_DB", "15"))
    for index, spec in enumerate(specs):
        specs[index] = execnet.XSpec(f"{spec}//env:TEST_REDIS_DB={base - index}")


# How long a test takes, told by its markers, longest first: the CPU-hog test (the chaos run: a
# few minutes of waiting on its rate, its kill and its restarts), the `slow` and `soak` tests
# (20 s to 2 min), the other tests that start worker processes (10-45 s), the other browser
# tests (5-20 s); the rest take about a second or less.
LONGEST_FIRST = (("cpu_hogs",), ("slow", "soak"), ("worker",), ("browser",))


def pytest_collection_modifyitems(config, items):
    """The order `make test` hands the tests out in (`--maxschedchunk 1`: one at a time, to
    whichever process is free): longest first. The chaos run then goes on beside the whole rest
    of the suite instead of after it, and the run ends on short tests that fill all the
    processes up to the end, not on one process finishing a long test alone (in file order,
    tests of 30-80 s started in the last minute). File order within each kind."""

    def rank(item):
        for index, markers in enumerate(LONGEST_FIRST):
            if any(item.get_closest_marker(name) for name in markers):
                return index
        return len(LONGEST_FIRST)

    items.sort(key=rank)


def pytest_terminal_summary(terminalreporter):
    """What the long runs measured (the chaos run's time, consultas per referral, smallest
    gap), recorded with `record_property("summary", ...)`: shown at the end of the run, from
    whichever parallel process ran them."""
    reports = [
        r for outcome in ("passed", "failed") for r in terminalreporter.stats.get(outcome, [])
    ]
    lines = [
        f"{report.nodeid}: {value}"
        for report in reports
        if report.when == "call"
        for name, value in report.user_properties
        if name == "summary"
    ]
    if lines:
        terminalreporter.section("what the long runs measured")
        for line in lines:
            terminalreporter.write_line(line)


DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A test that uses the database runs on a thread with no Playwright loop marked running:
    the browsers the scraping tests keep are closed first (tests/browsers.py), before any of
    its fixtures, the session's database set-up included. Longest first, the browser tests
    come before most of the database ones in each process."""
    if item.get_closest_marker("django_db") or DATABASE_FIXTURES & set(item.fixturenames):
        close_kept_browsers()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    """Django's PBKDF2 takes about a second of CPU per password on this machine, and the suite
    creates thousands of users: MD5 first for the tests. No test is about the hasher; the
    production list follows, so a password hashed by a process the tests start (the Django-Q2
    portal of tests/test_cutover.py) still logs in."""
    from django.test import override_settings

    fast = ["django.contrib.auth.hashers.MD5PasswordHasher", *settings.PASSWORD_HASHERS]
    with override_settings(PASSWORD_HASHERS=fast):
        yield


@pytest.fixture(autouse=True)
def _per_process_caches():
    """Answers cached a few seconds per process: the data policy in force (privacy.policy)
    and /healthz/pipeline's (ops.health). A test must not read one an earlier test left: a
    policy version it published and rolled back, a circuit it opened."""
    from ops import health
    from privacy import policy

    clears = (policy.clear_cache, health.clear_cache)
    for clear in clears:
        clear()
    yield
    for clear in clears:
        clear()


@pytest.fixture
def redis():
    """The tests' own Redis database (REDIS_URL points at db 15 under pytest), emptied first."""
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def user(db):
    return User.objects.create_user("ana", "ana@example.com", "clave-segura-123")


@pytest.fixture
def other_user(db):
    return User.objects.create_user("beto", "beto@example.com", "clave-segura-456")


@pytest.fixture
def staff_user(db):
    return User.objects.create_user("ops", "ops@example.com", "clave-segura-789", is_staff=True)


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def start_worker(redis):
    """Start real Celery worker processes; all are stopped at the end of the test."""
    workers = []

    def start(ready_timeout=30.0, wait=True, **kwargs):
        """`wait=False` returns at once (boot several together, then `wait_ready` each)."""
        worker = WorkerProcess(**kwargs)
        workers.append(worker)  # before the wait: one that never gets ready is stopped too
        return worker.wait_ready(ready_timeout) if wait else worker

    yield start
    try:
        for worker in workers:
            worker.stop()
    finally:  # whatever interrupted a stop, none is left running
        for worker in workers:
            worker.kill()


@pytest.fixture
def pipeline_env(simulator):
    """Environment for worker processes that verify against the simulator, with fast,
    test-sized timings. Tests override what they exercise. The workers' time limits are their
    own: messages are sent by name and carry none (pipeline.dispatch)."""

    def make(**overrides):
        env = {
            "REGISTRADURIA_URL": simulator.url,
            "REGISTRADURIA_WSP_URL": simulator.wsp_url,
            "CAPTCHA_SOLVER": "twocaptcha",
            "CAPTCHA_API_URL": simulator.solver_url,
            "CAPTCHA_API_KEY": "test-key",
            "CAPTCHA_POLL_INTERVAL": "0.2",
            "SCRAPING_HUMAN_PAUSES": "0",
            "SCRAPING_RATE_LIMIT": "20/s",
            "SCRAPING_MAX_RETRIES": "3",
            "SCRAPING_RETRY_BACKOFF_MAX": "2",
            "SCRAPING_TASK_TIME_LIMIT": "40",
            "SCRAPING_NAVIGATION_TIMEOUT": "15",
            "SCRAPING_API_TIMEOUT": "15",
            "CIRCUIT_COOLDOWN": "30",
            "CELERY_VISIBILITY_TIMEOUT": "300",
        }
        env.update({k: str(v) for k, v in overrides.items()})
        return child_env(**env)

    return make


@pytest.fixture
def webhook():
    from tests.procs import WebhookReceiver

    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
