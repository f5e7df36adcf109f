"""Egress lanes: how many scraping workers, each behind its own address, one machine holds.

LANES scraping workers (the production command, `-Q scraping -c 1`), each behind its own
forward proxy that leaves from its own loopback address (127.0.0.2, 127.0.0.3, ...:
`harness.egress`), so each has its own limiter key and circuit, as workers behind distinct
proxies have in production (SCRAPING_PROXY). A backlog created through `services.create_referral`
outlasts the window. The simulator's request log, which records the client address, gives each
lane's consultas: its rate over the window and its smallest gap. The machine's CPU (/proc/stat,
every process on it: workers, browsers, proxies, simulator, this process) and memory (used, and
each worker tree's PSS) are read over the same window. Two arms, one after the other: before
(`SCRAPING_SESSION_LOOKUPS=1`, a fresh context per lookup, as the client worked until the
browser session) and after (the session, production's default). Human pauses are off (as in the
politeness benchmark): with production's 2-5 s pauses a lookup takes longer than the 5 s gap
and one worker per lane could not keep 12/m whatever the machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time

import psutil
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
from benchmarks.cost import tree_pss
from harness.egress import EgressProxy

LANES = int(os.environ.get("BENCH_LANES", "8"))
RATE = os.environ.get("BENCH_LANES_RATE", "12/m")
WINDOW_S = float(os.environ.get("BENCH_LANES_WINDOW", "300"))
TARGET = 0.95  # of the polite rate, per lane


def busy_cpu_seconds() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


ARMS = (
    ("before: fresh context per lookup", {"SCRAPING_SESSION_LOOKUPS": "1"}),
    ("after: browser session", {}),
)


def run(simulator, quick: bool = False) -> dict:
    lanes, window = (3, 60.0) if quick else (LANES, WINDOW_S)
    cedulas = (str(c) for c in itertools.count(1_900_000_007, 7919))
    results = [run_arm(simulator, label, env, lanes, window, cedulas) for label, env in ARMS]
    rows = [row for result in results for row in result["rows"]]
    title = f"Egress lanes: {lanes} scraping workers, each behind its own address"
    title += f", {window:.0f} s at {RATE}, before and after the browser session"
    return {"runs": results, "rows": rows, "table": print_table(title, rows, "smallest gap")}


def run_arm(simulator, label: str, extra_env: dict, lanes: int, window: float, cedulas) -> dict:
    from referrals import services

    per_min = rate(RATE) * 60
    reset_redis()
    simulator.control.reset()
    user, _ = User.objects.get_or_create(username="bench-lanes")
    consent = services.authorization("attested", by=user)
    backlog = int(lanes * per_min * (window + 120) / 60 * 1.2)
    for _ in range(backlog):
        services.create_referral(user=user, cedula=next(cedulas), authorization=consent)
    memory_before = psutil.virtual_memory().used
    addresses = [f"127.0.0.{i + 2}" for i in range(lanes)]
    with contextlib.ExitStack() as stack:
        proxies = [stack.enter_context(EgressProxy(simulator.port, a)) for a in addresses]
        workers = [
            celery_worker(
                f"lane-{i}",
                "scraping",
                DJANGO_SETTINGS_MODULE="project.settings",
                SCRAPING_RATE_LIMIT=RATE,
                SCRAPING_PROXY=proxy.url,
                REGISTRADURIA_URL=proxy.site_url(),
                **extra_env,
            )
            for i, proxy in enumerate(proxies)
        ]
        stack.callback(stop_workers, workers)  # before the proxies go: no lookup is cut off
        for w in workers:
            w.wait_log(" ready.", timeout=120)
        # Measured once every lane's browser is up: a launch is one in thousands of lookups.
        wait_until(
            lambda: len({e["client"] for e in simulator.control.log()}) >= lanes,
            timeout=120,
            what="a first consulta from every lane",
        )
        cpu0, t0 = busy_cpu_seconds(), time.time()
        time.sleep(window)
        cpu1, t1 = busy_cpu_seconds(), time.time()
        memory_used = psutil.virtual_memory().used
        pss = [tree_pss(w.pid) for w in workers]

    by_lane: dict[str, list[float]] = {a: [] for a in addresses}
    for entry in simulator.control.log():
        if t0 <= entry["ts"] <= t1 and entry["client"] in by_lane:
            by_lane[entry["client"]].append(entry["ts"])
    lanes_seen = []
    for address, stamps in by_lane.items():
        stamps.sort()
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0]) * 60 if len(stamps) > 1 else 0.0
        lanes_seen.append(
            {"address": address, "consultas": len(stamps), "per_min": achieved, "gaps_s": gaps}
        )
    return report(
        {
            "label": label,
            "lanes": lanes_seen,
            "rate": RATE,
            "per_min": per_min,
            "window_s": t1 - t0,
            "cpu_s": cpu1 - cpu0,
            "cores": psutil.cpu_count(),
            "memory_used_before_bytes": memory_before,
            "memory_used_bytes": memory_used,
            "memory_total_bytes": psutil.virtual_memory().total,
            "pss_per_worker_bytes": pss,
        }
    )


def report(data: dict) -> dict:
    per_min, interval = data["per_min"], 60 / data["per_min"]
    rows = []
    for lane in data["lanes"]:
        smallest = min(lane["gaps_s"], default=float("nan"))
        held = lane["per_min"] / per_min
        # Never above: no gap shorter than the interval (0.3 s: the gap is taken as the request
        # leaves the browser and stamped as it reaches the site, through a proxy on busy cores).
        ok = held >= TARGET and smallest >= interval - 0.3
        rows.append(
            row(
                f"{data['label']}, lane {lane['address']}: consultas/min",
                f"{lane['per_min']:.2f}/m ({held:.1%})",
                f"{smallest:.2f} s",
                lane["consultas"],
                f"≥ {TARGET:.0%} of {per_min:.0f}/m, gap ≥ {interval:.0f} s",
                ok,
            )
        )
    lookups = sum(lane["consultas"] for lane in data["lanes"])
    busy = data["cpu_s"] / data["window_s"]
    rows.append(
        row(
            f"{data['label']}: machine CPU, every process",
            f"{busy:.2f} of {data['cores']} cores",
            f"{data['cpu_s'] / max(1, lookups):.2f} CPU-s/lookup",
            lookups,
        )
    )
    pss = data["pss_per_worker_bytes"]
    rows.append(
        row(
            f"{data['label']}: memory, machine used (before the workers)",
            mib(data["memory_used_bytes"]),
            f"({mib(data['memory_used_before_bytes'])}) of {mib(data['memory_total_bytes'])}",
        )
    )
    rows.append(
        row(
            f"{data['label']}: memory, PSS per worker tree (p50, max)",
            mib(pct(pss, 50)),
            mib(max(pss)),
        )
    )
    data["all_lanes_held"] = all(r["met"] == "yes" for r in rows[: len(data["lanes"])])
    data["rows"] = rows
    return data
