"""Politeness: the rate the site sees under a 200-referral backlog, with 1 and 2 scraping workers.

The backlog is created through the real `services.create_referral` (on_commit → Redis
`scraping` queue); real workers (`celery -A project worker -Q scraping -c 1`, the production
command and settings) then verify it against the simulator for WINDOW_S seconds. The backlog
outlasts the window, so the workers never run dry and the pace is the limiter's. The
simulator's request log gives the time of every consulta: the achieved rate (n consultas paced
by k limiter keys make n − k gaps between the first and the last) and the gaps between them.
Workers stop as `docker stop` stops them (SIGTERM to the main process: the lookup in hand ends).

The configured rate (BENCH_RATE_LIMIT, 30/m: a 2 s gap) sits above what one lookup takes, so
the limiter, not the browser, sets the pace. The third configuration gives each worker its own
limiter key, as two workers behind two egress addresses have (SCRAPING_PROXY): the aggregate
should double. Worker cost, once its browser is up: CPU seconds per lookup and the share of a
core (sampled every 0.1 s over the worker, its pool child, the driver and every Chromium
process), and memory (RSS summed, as `ps` shows it; PSS, what the worker really costs).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections import Counter

from celery.utils.time import rate
from django.contrib.auth.models import User

from benchmarks.common import (
    celery_worker,
    mib,
    pct,
    print_table,
    reset_redis,
    row,
    stop_workers,
    wait_until,
)
from benchmarks.cost import TreeSampler, tree_pss

RATE = os.environ.get("BENCH_RATE_LIMIT", "30/m")
CONFIGS = (
    ("1 worker", ("direct",)),
    ("2 workers, 1 limiter key", ("direct", "direct")),
    ("2 workers, 2 limiter keys", ("egress-a", "egress-b")),
)
BACKLOG = 200
WINDOW_S = 30.0


def one(simulator, idx: int, label: str, keys: tuple[str, ...], cedulas, quick: bool) -> dict:
    from referrals import services

    reset_redis()  # limiter slots, queues: start clean
    simulator.control.reset()
    user, _ = User.objects.get_or_create(username="bench-politeness")
    backlog = 40 if quick else BACKLOG
    for _ in range(backlog):
        services.create_referral(
            user=user,
            cedula=next(cedulas),
            authorization=services.authorization("attested", by=user),
        )

    workers = [
        celery_worker(
            f"politeness-c{idx}-w{i}",
            "scraping",
            DJANGO_SETTINGS_MODULE="project.settings",
            SCRAPING_RATE_LIMIT=RATE,
            SCRAPING_LIMITER_KEY=key,
        )
        for i, key in enumerate(keys)
    ]
    with contextlib.ExitStack() as stack:
        stack.callback(stop_workers, workers)  # runs last: after the samplers
        for w in workers:
            w.wait_log(" ready.", timeout=90)
        # Cost is measured once the browsers are up: a launch is one in thousands of lookups.
        wait_until(
            lambda: len(simulator.control.log()) >= len(workers), timeout=60, what="first lookups"
        )
        samplers = [stack.enter_context(TreeSampler([w.pid], interval=0.1)) for w in workers]
        window = (time.time(), time.time() + (12.0 if quick else WINDOW_S))
        time.sleep(window[1] - window[0])
        pss = [tree_pss(w.pid) for w in workers]

    log = simulator.control.log()
    stamps = sorted(e["ts"] for e in log)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # k independent limiter keys pace k streams: (n - k) gaps between first and last.
    streams = len(set(keys))
    span = stamps[-1] - stamps[0] if len(stamps) > streams else float("nan")
    achieved = (len(stamps) - streams) / span * 60
    return {
        "label": label,
        "limiter_keys": list(keys),
        "backlog": backlog,
        "consultas": len(stamps),
        "configured_per_min": rate(RATE) * 60,
        "interval_s": 1 / rate(RATE),
        "achieved_per_min": achieved,
        "gaps_s": gaps,
        "outcomes": dict(Counter(e.get("outcome") for e in log)),
        "log": [{k: e.get(k) for k in ("ts", "cedula", "session", "outcome")} for e in log],
        "window_s": window[1] - window[0],
        "lookups_in_window": sum(window[0] <= t <= window[1] for t in stamps),
        "cpu_s_per_worker": [s.cpu_seconds for s in samplers],
        "peak_rss_per_worker": [s.peak_rss for s in samplers],
        "pss_per_worker": pss,
    }


def run(simulator, quick: bool = False) -> dict:
    cedulas = (str(c) for c in itertools.count(1_500_000_003, 7919))
    results = [
        one(simulator, i, label, keys, cedulas, quick) for i, (label, keys) in enumerate(CONFIGS)
    ]
    return report(results)


def report(results: list[dict]) -> dict:
    rows = []
    for r in results:
        keys = len(set(r["limiter_keys"]))
        allowed = r["configured_per_min"] * keys
        achieved, gaps, interval = r["achieved_per_min"], r["gaps_s"], r["interval_s"]
        share = achieved / allowed
        rows.append(
            row(
                f"{r['label']}: consultas/min",
                f"{achieved:.2f}/m",
                f"{share:.1%} of {allowed:.0f}/m",
                r["consultas"],
                "95-100 %",
                0.95 <= share <= 1.01,
            )
        )
        if keys == 1:  # with two keys, two workers may rightly hit the site at once
            min_gap = min(gaps) if gaps else float("nan")
            rows.append(
                row(
                    f"{r['label']}: gap between consultas",
                    f"{pct(gaps, 50):.3f} s",
                    f"min {min_gap:.3f} s",
                    len(gaps),
                    f"min ≥ {interval:.2f} s",
                    min_gap >= interval - 0.05,  # 50 ms: the browser→site leg
                )
            )
        cpu = sum(r["cpu_s_per_worker"])
        lookups = max(r["lookups_in_window"], 1)
        rows.append(
            row(
                f"{r['label']}: cost per worker",
                f"{cpu / lookups:.2f} CPU-s/lookup",
                f"{cpu / r['window_s'] / len(r['limiter_keys']):.0%} of a core",
                lookups,
                f"RSS {mib(max(r['peak_rss_per_worker']))}, PSS {mib(max(r['pss_per_worker']))}",
            )
        )
    table = print_table(
        f"Politeness: the rate the site sees under a backlog (SCRAPING_RATE_LIMIT={RATE})",
        rows,
        "detail",
    )
    return {"configs": results, "table": table, "rows": rows}
