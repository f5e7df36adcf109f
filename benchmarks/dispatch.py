"""Dispatch: the project's enqueue path (Celery on Redis) vs Django-Q2 (ORM broker, SQLite WAL).

Both run in the same run, round by round in rotating order, against real worker processes:
`celery worker -Q default -c 1` (prefork, as in production) and `manage.py qcluster` with
`workers: 1`. Each referral goes through the real `services.create_referral` (row saved in a
transaction, `on_commit` publish); only `publish_verification` is swapped for one that sends the
benchmark's trivial task to the side under test (`verify_referral.delay` is the same `delay`
call on another task) and notes the commit time. The task writes `time.time()` at its start.

Measured: the publish call (what the request pays to enqueue), the whole create_referral call,
commit→task-start latency at a paced 20/s, and a burst of trivial tasks sent back to back
(until all have run). For Celery the latency is also cut where Celery hands the task to its code
(`task_prerun`): before it, Redis and the worker's hand-off to its pool process; after it, the
pool process's own work, mostly storing the STARTED state (CELERY_TASK_TRACK_STARTED, on in the
project's settings) in the django-db result backend. A third side runs the same Celery task
with `track_started=False` to show that setting's cost.

Both sides keep their framework's defaults around the task: Celery stores results in the
django-db backend (the project's settings); Django-Q2 saves results too and polls its ORM queue
every 0.2 s (its default `poll`).
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import time

import redis
from django.conf import settings
from django.contrib.auth.models import User

from benchmarks.common import (
    Proc,
    celery_worker,
    ms,
    pct,
    print_table,
    reset_redis,
    row,
    wait_until,
)

RATE = 20  # tasks per second in the paced phase
ROUNDS = 6  # per side, in rotating order
PER_ROUND = 50
WARMUP = 10
BURST = 500
CELERY, UNTRACKED, Q2 = "celery", "celery, STARTED off", "django-q2"


class CelerySide:
    def __init__(self, name: str, task_name: str) -> None:
        self.name = name
        self.task_name = task_name

    def send(self, hash_key: str, field: str) -> None:
        import benchmarks.tasks as tasks

        getattr(tasks, self.task_name).delay(hash_key, field)


class DjangoQ2Side:
    name = Q2

    def send(self, hash_key: str, field: str) -> None:
        from django_q.tasks import async_task

        async_task("benchmarks.tasks.record_start", hash_key, field)


@contextlib.contextmanager
def publishing_with(publish):
    """The portal's services publish through pipeline.dispatch (looked up at each call)."""
    from pipeline import dispatch

    original = dispatch.publish_verification
    dispatch.publish_verification = publish
    try:
        yield
    finally:
        dispatch.publish_verification = original


class Bench:
    def __init__(self, quick: bool) -> None:
        self.redis = redis.Redis.from_url(settings.REDIS_URL)
        self.user, _ = User.objects.get_or_create(username="bench-dispatch")
        from referrals import services

        self.consent = services.authorization("attested", by=self.user)
        self.cedulas = (str(n) for n in itertools.count(1_300_000_000, 7))
        self.rounds = 2 if quick else ROUNDS
        self.burst = 100 if quick else BURST
        self.samples: dict[str, dict[str, list[float]]] = {}

    def paced(self, side, n: int, tag: str, record: bool = True) -> None:
        from referrals import services

        key = f"bench:paced:{side.name}:{tag}"
        commits: dict[str, float] = {}
        enqueue: list[float] = []
        request: list[float] = []

        def publish(referral_id: int) -> None:
            commits[str(referral_id)] = time.time()  # on_commit callbacks run right after COMMIT
            t0 = time.perf_counter()
            side.send(key, str(referral_id))
            enqueue.append(time.perf_counter() - t0)

        with publishing_with(publish):
            start = time.perf_counter()
            for i in range(n):
                time.sleep(max(0.0, start + i / RATE - time.perf_counter()))
                t0 = time.perf_counter()
                services.create_referral(
                    user=self.user, cedula=next(self.cedulas), authorization=self.consent
                )
                request.append(time.perf_counter() - t0)
        wait_until(lambda: self.redis.hlen(key) >= n, timeout=60, what=f"{side.name} tasks")
        if not record:
            return
        starts = self._times(key)
        prerun = self._times(f"{key}:prerun")
        s = self.samples.setdefault(side.name, {})
        s.setdefault("enqueue", []).extend(enqueue)
        s.setdefault("request", []).extend(request)
        s.setdefault("latency", []).extend(starts[k] - commits[k] for k in commits)
        if prerun:
            s.setdefault("to_prerun", []).extend(prerun[k] - commits[k] for k in commits)
            s.setdefault("prerun_to_body", []).extend(starts[k] - prerun[k] for k in commits)

    def _times(self, key: str) -> dict[str, float]:
        return {k.decode(): float(v) for k, v in self.redis.hgetall(key).items()}

    def burst_run(self, side) -> dict:
        key = f"bench:burst:{side.name}"
        t0 = time.time()
        for i in range(self.burst):
            side.send(key, str(i))
        enqueued = time.time() - t0
        wait_until(
            lambda: self.redis.hlen(key) >= self.burst, timeout=300, what=f"{side.name} burst"
        )
        last = max(float(v) for v in self.redis.hvals(key))
        return {"n": self.burst, "enqueue_s": enqueued, "all_ran_s": last - t0}


def start_workers() -> list[Proc]:
    celery = celery_worker("dispatch-celery", "default", app="benchmarks.celery_app")
    qcluster = Proc(
        "dispatch-qcluster", [sys.executable, "manage.py", "qcluster"], {"LOG_LEVEL": "INFO"}
    )
    celery.wait_log(" ready.", timeout=90)
    qcluster.wait_log(" running.", timeout=90)
    return [celery, qcluster]


def run(simulator=None, quick: bool = False) -> dict:
    reset_redis()
    bench = Bench(quick)
    celery = CelerySide(CELERY, "celery_record_start")
    sides = [celery, CelerySide(UNTRACKED, "celery_record_start_untracked"), DjangoQ2Side()]
    workers = start_workers()
    try:
        for side in sides:
            bench.paced(side, WARMUP, "warmup", record=False)
        for r in range(bench.rounds):
            for side in sides[r % 3 :] + sides[: r % 3]:  # each side first in turn
                bench.paced(side, PER_ROUND, str(r))
        bursts = {side.name: bench.burst_run(side) for side in (celery, sides[2])}
    finally:
        for worker in workers:
            worker.stop()
    return report(bench.samples, bursts)


def report(samples: dict, bursts: dict) -> dict:
    from importlib.metadata import version

    summary: dict = {"samples": samples, "burst": bursts, "rate_per_s": RATE}
    summary["versions"] = {p: version(p) for p in ("celery", "kombu", "django-q2")}
    c, q = samples[CELERY], samples[Q2]

    def line(name, values, target="", met=None):
        return row(name, ms(pct(values, 50)), ms(pct(values, 99)), len(values), target, met)

    c50, q50 = pct(c["latency"], 50), pct(q["latency"], 50)
    ratio = q50 / c50
    rows = [
        line(f"enqueue (publish call), {CELERY}", c["enqueue"]),
        line(f"enqueue (publish call), {Q2}", q["enqueue"]),
        line(f"create_referral, {CELERY}", c["request"]),
        line(f"create_referral, {Q2}", q["request"]),
        line(f"commit→start @{RATE}/s, {CELERY}", c["latency"], "≤ 5 ms", c50 <= 0.005),
        line("  of which commit→pool process (Redis, hand-off)", c["to_prerun"]),
        line("  of which pool process→body (STARTED row)", c["prerun_to_body"]),
        line(f"commit→start @{RATE}/s, {UNTRACKED}", samples[UNTRACKED]["latency"]),
        line(f"commit→start @{RATE}/s, {Q2}", q["latency"]),
        row("commit→start p50, q2 ÷ celery", f"{ratio:.0f}×", "", "", "≥ 20×", ratio >= 20),
    ]
    for side, b in bursts.items():
        rows.append(
            row(
                f"burst, {side}: tasks/s (p99 col: all ran in)",
                f"{b['n'] / b['all_ran_s']:.0f}/s",
                f"{b['all_ran_s']:.2f} s",
                b["n"],
            )
        )
    summary["latency_p50_s"] = {side: pct(s["latency"], 50) for side, s in samples.items()}
    summary["ratio_p50"] = ratio
    title = "Dispatch: Celery + Redis vs Django-Q2 (ORM broker, SQLite WAL, workers: 1)"
    summary["table"] = print_table(title, rows)
    summary["rows"] = rows
    return summary
