import pytest
import redis as redis_lib
from django.conf import settings
from django.contrib.auth.models import User

from tests.procs import WorkerProcess, child_env


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

    def start(**kwargs):
        worker = WorkerProcess(**kwargs)
        workers.append(worker)
        return worker.wait_ready()

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="session")
def simulator_server():
    from scraping.simulator import SimulatorServer

    with SimulatorServer(port=0) as server:
        yield server


@pytest.fixture
def simulator(simulator_server):
    """The local Registraduría simulator, reset to a clean state for each test."""
    simulator_server.control.reset()
    yield simulator_server
    simulator_server.control.reset()


@pytest.fixture
def pipeline_env(simulator, monkeypatch):
    """Environment for worker processes that verify against the simulator, with fast,
    test-sized timings. Tests override what they exercise.

    Celery puts the publisher's time limits in each message, and they win over the worker's:
    in production web and workers share one environment; here the test process publishes, so
    it takes the worker's limits too."""
    from referrals.tasks import verify_referral

    def make(**overrides):
        env = {
            "REGISTRADURIA_URL": simulator.url,
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
        hard = int(env["SCRAPING_TASK_TIME_LIMIT"])
        monkeypatch.setattr(verify_referral, "time_limit", hard)
        monkeypatch.setattr(verify_referral, "soft_time_limit", hard - max(5, hard // 6))
        monkeypatch.setattr(verify_referral, "_exec_options", None)
        return child_env(**env)

    return make


@pytest.fixture
def webhook():
    from tests.procs import WebhookReceiver

    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
