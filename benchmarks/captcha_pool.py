"""Captcha token pool: lookups per minute when every captcha takes 20 s to solve, with and
without the pool, against a site rate of 12/min.

Both runs go through the production path: referrals created by `services.create_referral`
(on_commit → Redis), real workers (`-Q scraping -c 1`; for the pool also `-Q captcha -P threads`
and `-Q default`) and real beat (the top-up), the simulator's 2captcha-compatible solver taking
SOLVE_DELAY seconds per solve, tokens living 120 s and rejected by the site when expired or
reused. The rate is read from the simulator's request log (the consultas the site saw); "warm"
leaves out the first WARM_UP consultas (the first lookup solves inline: the pool learns the site
key from it, and the first pool solves take SOLVE_DELAY). Spend comes from the pool's counters.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time

import redis
from celery.utils.time import rate
from django.conf import settings
from django.contrib.auth.models import User

from benchmarks.common import VENV_BIN, Proc, pct, print_table, row, wait_until

SOLVE_DELAY = 20.0
SITE_RATE = "12/m"
WARM_UP = 5
POOL = {"CAPTCHA_POOL_SIZE_MAX": "10", "CAPTCHA_SOLVER_CONCURRENCY": "10"}


def worker(name: str, queues: str, env: dict, pool: str = "prefork", concurrency: int = 1):
    cmd = [str(VENV_BIN / "celery"), "-A", "project", "worker", "-Q", queues, "-P", pool]
    cmd += ["-c", str(concurrency), "-n", f"{name}@%h", "--loglevel", "INFO"]
    cmd += ["--without-gossip", "--without-mingle"]
    return Proc(name, cmd, env)


def one(simulator, label: str, n: int, cedulas, pool_on: bool) -> dict:
    from referrals import services
    from referrals.models import Referral, Status
    from scraping.token_pool import TokenPool

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()  # limiter slots, queues, pool: start clean
    simulator.control.reset()
    simulator.control.update_settings(solve_delay=SOLVE_DELAY)
    env = {
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "SCRAPING_RATE_LIMIT": SITE_RATE,
        # 2captcha asks clients to poll no faster than every 5 s; 1 s keeps the figures tight.
        "CAPTCHA_POLL_INTERVAL": "1",
        "CAPTCHA_POOL_TOP_UP_EVERY": "2s",
        **(POOL if pool_on else {"CAPTCHA_POOL_SIZE_MAX": "0"}),
    }
    with contextlib.ExitStack() as stack:
        procs = [worker(f"pool-{label}-scraping", "scraping", env)]
        if pool_on:
            procs.append(worker(f"pool-{label}-default", "default", env))
            procs.append(worker(f"pool-{label}-captcha", "captcha", env, "threads", 10))
            schedule = f"/tmp/celerybeat-bench-{label}-{os.getpid()}"
            beat = [str(VENV_BIN / "celery"), "-A", "project", "beat", "--schedule", schedule]
            procs.append(Proc(f"pool-{label}-beat", beat, env))
        stack.callback(lambda: [p.stop() for p in procs])
        for p in procs:
            if "beat" not in p.name:
                p.wait_log(" ready.", timeout=90)
        user, _ = User.objects.get_or_create(username="bench-captcha-pool")
        consent = services.authorization("attested", by=user)
        ids = [
            services.create_referral(user=user, cedula=next(cedulas), authorization=consent).pk
            for _ in range(n)
        ]
        t0 = time.monotonic()
        in_flight = Referral.objects.filter(pk__in=ids, status__in=Status.in_flight())
        budget = n * (SOLVE_DELAY + 15) + 120
        wait_until(lambda: not in_flight.exists(), timeout=budget, interval=1, what=label)
        wall = time.monotonic() - t0

    stamps = sorted(e["ts"] for e in simulator.control.log())
    counters = simulator.control.state()["counters"]
    spend = TokenPool(client, ttl=110).spend_over(hours=2)
    statuses = Referral.objects.filter(pk__in=ids).values_list("status", flat=True)
    return {
        "label": label,
        "pool": pool_on,
        "referrals": n,
        "consultas": len(stamps),
        "per_min_all": _per_min(stamps),
        "per_min_warm": _per_min(stamps[WARM_UP:]),
        "gaps_s": [b - a for a, b in itertools.pairwise(stamps)],
        "wall_s": wall,
        "statuses": sorted(set(statuses)),
        "token_rejections": counters.get("token_rejections", 0),
        "solver_solved": counters.get("solver_solved", 0),
        "pool_spend": {
            "solved_ahead": spend.solved_ahead,
            "solved_inline": spend.solved_inline,
            "used": spend.used,
            "wasted": spend.wasted,
            "solve_failures": spend.solve_failures,
            "cost_usd": spend.cost_usd,
        },
    }


def _per_min(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) * 60 if len(stamps) > 1 else 0.0


def run(simulator, quick: bool = False) -> dict:
    cedulas = (str(c) for c in itertools.count(1_600_000_001, 7919))
    inline = one(simulator, "inline", 3 if quick else 8, cedulas, pool_on=False)
    pooled = one(simulator, "pool", 15 if quick else 60, cedulas, pool_on=True)
    return report([inline, pooled])


def report(results: list[dict]) -> dict:
    site = rate(SITE_RATE) * 60
    inline, pooled = results
    spend = pooled["pool_spend"]
    spent = spend["used"] + spend["wasted"]
    waste = spend["wasted"] / spent if spent else 0.0
    rows = [
        row(
            f"pool off (inline {SOLVE_DELAY:.0f} s solves): lookups/min",
            f"{inline['per_min_all']:.1f}/m",
            f"gap p50 {pct(inline['gaps_s'], 50):.1f} s",
            inline["consultas"],
        ),
        row(
            "pool on: lookups/min once warm",
            f"{pooled['per_min_warm']:.1f}/m",
            f"all {pooled['per_min_all']:.1f}/m, {pooled['wall_s']:.0f} s",
            pooled["consultas"],
            f"≥ {0.9 * site:.1f}/m (90% of {site:.0f}/m)",
            pooled["per_min_warm"] >= 0.9 * site,
        ),
        row(
            "pool on: tokens used / wasted / inline",
            f"{spend['used']} / {spend['wasted']} / {spend['solved_inline']}",
            f"waste {waste:.1%}, US$ {spend['cost_usd']:.4f}",
            spend["solved_ahead"],
            "waste < 10%",
            waste < 0.10,
        ),
        row(
            "tokens the site rejected (expired or reused)",
            inline["token_rejections"] + pooled["token_rejections"],
            "",
            inline["consultas"] + pooled["consultas"],
            "0",
            inline["token_rejections"] + pooled["token_rejections"] == 0,
        ),
    ]
    table = print_table(
        f"Captcha token pool: {SOLVE_DELAY:.0f} s solves, site rate {SITE_RATE}", rows, "detail"
    )
    return {"runs": results, "table": table, "rows": rows}
