"""Benchmark settings: the project's own, plus Django-Q2 (the design Celery replaced).

Django-Q2 is installed only in the `bench` dependency group and configured as the earlier plan
had it: the ORM broker on the same SQLite (WAL) database, one worker.
"""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_q"]

Q_CLUSTER = {
    "name": "bench",
    "orm": "default",  # the ORM broker: the queue is a table in the same database
    "workers": 1,
    "timeout": 60,
    "retry": 120,
    "catch_up": False,
}
