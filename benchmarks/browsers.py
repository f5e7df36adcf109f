"""Browsers: the production Chromium against the tests' headless shell, side by side.

Production looks up with Debian's full `chromium` (SYSTEM_CHROMIUM, new headless mode); the
tests whose subject is not the browser drive `chromium-headless-shell`, the same Chromium
build without the desktop browser around it (tests/browsers.py). This measures what that
choice saves and what it costs: for each browser, in the same run against the same simulator,

- **launch**: a `CensusClient` built, one lookup, closed (driver + browser launched each
  time): what a test that starts a worker or a portal browser pays once;
- **lookup**: lookups on one kept browser, each as a fresh visitor (its cookies dropped), as
  the tests in tests/scraping do.

CPU is this thread plus every descendant process (driver and browser), as in `scraper`.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import ms, pct, print_table, row
from benchmarks.scraper import cedula, cpu_meter, timed_lookup

LAUNCHES = int(os.environ.get("BENCH_BROWSERS_LAUNCHES", "20"))
LOOKUPS = int(os.environ.get("BENCH_BROWSERS_LOOKUPS", "100"))


def arms() -> dict[str, str]:
    from scraping.browser import HEADLESS_SHELL, SYSTEM_CHROMIUM

    return {
        "chromium (production)": SYSTEM_CHROMIUM,
        "chromium-headless-shell (tests)": HEADLESS_SHELL,
    }


def measure(simulator, path: str, launches: int, lookups: int, offset: int) -> dict:
    from scraping.client import CensusClient
    from scraping.config import ScrapingConfig

    config = dataclasses.replace(ScrapingConfig.from_env(), browser_path=path, relaunch_every=0)
    exclude = (simulator.proc.pid,)
    errors: Counter = Counter()
    launched = []
    with cpu_meter(exclude) as launch_cpu:
        for i in range(launches):
            with CensusClient(config) as client:
                launched.append(timed_lookup(client, cedula(offset + i), errors))
    kept = []
    client = CensusClient(config)
    try:
        timed_lookup(client, cedula(offset + launches), errors)  # its launch, not counted
        with cpu_meter(exclude) as lookup_cpu:
            for i in range(lookups):
                client.forget_the_site()
                kept.append(timed_lookup(client, cedula(offset + launches + 1 + i), errors))
    finally:
        client.close()
    return {
        "launch_s": launched,
        "lookup_s": kept,
        "launch_cpu_s": launch_cpu["total"] / max(launches, 1),
        "lookup_cpu_s": lookup_cpu["total"] / max(lookups, 1),
        "errors": dict(errors),
    }


def run(simulator, quick: bool = False) -> dict:
    launches, lookups = (5, 20) if quick else (LAUNCHES, LOOKUPS)
    simulator.control.reset()
    results = {}
    # Playwright's sync API keeps an asyncio loop on its thread: off the main thread.
    with ThreadPoolExecutor(1, thread_name_prefix="bench-browser") as pool:
        for index, (name, path) in enumerate(arms().items()):
            if not os.access(path, os.X_OK):
                print(f"{name}: {path} is not installed (bin/ensure-chromium --tests)")
                continue
            offset = index * 10_000
            results[name] = pool.submit(
                measure, simulator, path, launches, lookups, offset
            ).result()
    return report(results)


def report(results: dict) -> dict:
    rows = []
    for name, data in results.items():
        for label, key in (("launch + one lookup", "launch"), ("lookup, browser kept", "lookup")):
            times = data[f"{key}_s"]
            cpu = f"{data[f'{key}_cpu_s']:.2f} CPU-s"
            rows.append(
                row(f"{name}: {label}", ms(pct(times, 50)), ms(pct(times, 95)), len(times), cpu)
            )
        failed = sum(data["errors"].values())
        tried = len(data["launch_s"]) + len(data["lookup_s"]) + 1
        rows.append(row(f"{name}: failed lookups", failed, "", tried, "", failed == 0))
    table = print_table(
        "Browsers: production's Chromium vs the tests' headless shell",
        rows,
        "p95",
        columns={"target": "CPU each"},
    )
    return {"table": table, "rows": rows, "results": results}
