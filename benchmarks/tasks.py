"""The benchmark's trivial task, for both queues: record when it started, in Redis.

`record_start` is what Django-Q2 runs (by dotted path); `celery_record_start` is the same
function as a Celery task on the `default` queue, with the project's settings (its STARTED state
stored before the body, as for every project task). `celery_record_start_untracked` turns that
one setting off for itself, to show what it costs. For the Celery tasks the moment Celery hands
the task to its code (`task_prerun`, in the pool process) is kept too: the latency's profile.
"""

import time

import redis
from celery import shared_task
from celery.signals import task_prerun
from django.conf import settings

_redis = None
_prerun: dict[str, float] = {}  # task id → when task_prerun fired, in this pool process


def record_start(hash_key: str, field: str, prerun: float | None = None) -> None:
    started = time.time()  # first thing: this is "task start"
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(settings.REDIS_URL)
    _redis.hset(hash_key, field, repr(started))
    if prerun is not None:
        _redis.hset(f"{hash_key}:prerun", field, repr(prerun))


@task_prerun.connect
def note_prerun(task_id=None, task=None, **kwargs):
    if task is not None and task.name.startswith("benchmarks."):
        _prerun[task_id] = time.time()


@shared_task(name="benchmarks.record_start", bind=True)
def celery_record_start(self, hash_key: str, field: str) -> None:
    record_start(hash_key, field, _prerun.pop(self.request.id, None))


@shared_task(name="benchmarks.record_start_untracked", bind=True, track_started=False)
def celery_record_start_untracked(self, hash_key: str, field: str) -> None:
    record_start(hash_key, field, _prerun.pop(self.request.id, None))
