import pytest
import redis as redis_lib
from django.conf import settings
from django.contrib.auth.models import User

from tests.procs import WorkerProcess


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
