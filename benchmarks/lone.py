"""Lone referrals: how long a leader waits from "Agregar" to a final state when nobody else is
adding referrals, before (the token pool fills for a backlog only) and after the warm floor
(CAPTCHA_POOL_MIN tokens kept ready during CAPTCHA_WARM_HOURS).

Each arm goes through the production path: `services.create_referral` (on_commit → Redis),
real workers (`-Q scraping -c 1`, `-Q captcha -P threads`, `-Q default`) and real beat (the
top-up), the simulator's 2captcha-compatible solver taking SOLVE_DELAY seconds per solve, the
production human pauses (2-5 s of "reading", digits typed one by one). Referrals come one at a
time, GAP seconds apart (uniform, the same seeded gaps in both arms), each timed from its commit
to its final state. Both arms start after one warm-up referral: a deployment's first lookup
launches the browser and teaches the pool the site key. The floor's cost is what the solver
charged for floor tokens over the arm's wall time.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import time

import redis
from django.conf import settings
from django.contrib.auth.models import User

from benchmarks.captcha_pool import worker
from benchmarks.common import VENV_BIN, Proc, pct, print_table, reset_redis, row, wait_until

SOLVE_DELAY = 30.0
GAP = (60.0, 120.0)
REFERRALS = int(os.environ.get("BENCH_LONE_REFERRALS", "20"))
BEFORE = int(os.environ.get("BENCH_LONE_BEFORE", "6"))  # waits for a solve every time
TARGET_P50, TARGET_P95 = 8.0, 15.0


def one(simulator, label: str, n: int, gaps: list[float], cedulas, floor_on: bool) -> dict:
    from referrals import services
    from referrals.models import Referral, Status
    from scraping.token_pool import TokenPool

    reset_redis()  # limiter slots, queues, pool: start clean
    simulator.control.reset()
    simulator.control.update_settings(solve_delay=SOLVE_DELAY)
    env = {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "SCRAPING_HUMAN_PAUSES": "2-5",  # production's: what a leader really waits
        "CAPTCHA_POLL_INTERVAL": "1",
        "CAPTCHA_POOL_TOP_UP_EVERY": "10s",  # production's
        # The pool as production runs it (benchmarks/__main__.py turns it off for the others).
        "CAPTCHA_POOL_SIZE_MAX": "10",
        "CAPTCHA_SOLVER_CONCURRENCY": "10",
        "CAPTCHA_POOL_MIN": "1" if floor_on else "0",
        "CAPTCHA_WARM_HOURS": "0-24",  # the benchmark runs at any hour: all of them are warm
    }
    user, _ = User.objects.get_or_create(username="bench-lone")
    consent = services.authorization("attested", by=user)
    pool = TokenPool(redis.Redis.from_url(settings.REDIS_URL), ttl=110)

    def time_to_final(cedula: str) -> float:
        started = time.monotonic()
        pk = services.create_referral(user=user, cedula=cedula, authorization=consent).pk
        in_flight = Referral.objects.filter(pk=pk, status__in=Status.in_flight())
        wait_until(lambda: not in_flight.exists(), timeout=180, interval=0.1, what=label)
        return time.monotonic() - started

    took = []
    with contextlib.ExitStack() as stack:
        procs = [
            worker(f"lone-{label}-scraping", "scraping", env),
            worker(f"lone-{label}-default", "default", env),
            worker(f"lone-{label}-captcha", "captcha", env, "threads", 4),
        ]
        schedule = f"/tmp/celerybeat-bench-lone-{label}-{os.getpid()}"
        beat = [str(VENV_BIN / "celery"), "-A", "project", "beat", "--schedule", schedule]
        procs.append(Proc(f"lone-{label}-beat", beat, env))
        stack.callback(lambda: [p.stop() for p in procs])
        for p in procs[:-1]:
            p.wait_log(" ready.", timeout=90)
        warm_up = time_to_final(next(cedulas))
        if floor_on:
            wait_until(lambda: pool.ready() >= 1, timeout=SOLVE_DELAY + 60, what="floor token")
        t0, cost0 = time.monotonic(), pool.spend_over(hours=2)
        for gap in gaps[:n]:
            took.append(time_to_final(next(cedulas)))
            time.sleep(gap)
        wall = time.monotonic() - t0
    spend = pool.spend_over(hours=2)
    counters = simulator.control.state()["counters"]
    return {
        "label": label,
        "floor": floor_on,
        "referrals": n,
        "warm_up_s": warm_up,
        "time_to_final_s": took,
        "wall_s": wall,
        "token_rejections": counters.get("token_rejections", 0),
        "spend": {
            "solved_ahead": spend.solved_ahead - cost0.solved_ahead,
            "solved_inline": spend.solved_inline - cost0.solved_inline,
            "solved_floor": spend.solved_floor - cost0.solved_floor,
            "used": spend.used - cost0.used,
            "wasted": spend.wasted - cost0.wasted,
            "cost_usd": spend.cost_usd - cost0.cost_usd,
            "cost_floor_usd": spend.cost_floor_usd - cost0.cost_floor_usd,
        },
    }


def run(simulator, quick: bool = False) -> dict:
    global SOLVE_DELAY, GAP
    if quick:
        SOLVE_DELAY, GAP = 10.0, (15.0, 25.0)
    n_after, n_before = (3, 2) if quick else (REFERRALS, BEFORE)
    seeded = random.Random(19)
    gaps = [seeded.uniform(*GAP) for _ in range(max(n_after, n_before))]
    cedulas = (str(c) for c in itertools.count(1_700_000_001, 7919))
    before = one(simulator, "before", n_before, gaps, cedulas, floor_on=False)
    after = one(simulator, "after", n_after, gaps, cedulas, floor_on=True)
    return report([before, after])


def report(results: list[dict]) -> dict:
    before, after = results
    rows = []
    for r, what in ((before, "before: no floor"), (after, "after: warm floor of 1 token")):
        took = r["time_to_final_s"]
        p50, p95 = pct(took, 50), pct(took, 95)
        target = f"p50 ≤ {TARGET_P50:.0f} s, p95 ≤ {TARGET_P95:.0f} s" if r["floor"] else ""
        met = (p50 <= TARGET_P50 and p95 <= TARGET_P95) if r["floor"] else None
        rows.append(row(f"{what}: Agregar → final", f"{p50:.1f} s", f"{p95:.1f} s", len(took)))
        rows[-1].update(target=target, met="" if met is None else ("yes" if met else "NO"))
    spend = after["spend"]
    hours = after["wall_s"] / 3600
    rows.append(
        row(
            "after: floor cost per warm hour",
            f"US$ {spend['cost_floor_usd'] / hours:.3f}",
            f"{spend['solved_floor'] / hours:.0f} solves/h, {spend['wasted']} wasted",
            spend["solved_floor"],
        )
    )
    inline = [r["spend"]["solved_inline"] for r in results]
    rows.append(
        row("solved inline (a referral waited): before / after", f"{inline[0]} / {inline[1]}")
    )
    rejected = before["token_rejections"] + after["token_rejections"]
    rows.append(row("tokens the site rejected", rejected, "", "", "0", rejected == 0))
    table = print_table(
        f"Lone referrals: {SOLVE_DELAY:.0f} s solves, {GAP[0]:.0f}-{GAP[1]:.0f} s apart, "
        "production human pauses",
        rows,
        "p95",
    )
    return {"runs": results, "table": table, "rows": rows}
