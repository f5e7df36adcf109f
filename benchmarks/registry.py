"""Every benchmark by name: the one place to add one.

A benchmark is a module with `run(simulator, quick: bool) -> dict`; the dict holds at least
"table" (the printed Markdown table) and whatever raw figures back it, and becomes
benchmarks/results/<name>.json. `simulator` is a running census simulator (`common.Simulator`)
when `needs_simulator` is set, else None.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Benchmark:
    module: str
    what: str
    needs_simulator: bool = True
    # In `make bench` without names. Off for long runs that answer another question.
    by_default: bool = True

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)


BENCHMARKS: dict[str, Benchmark] = {
    "dispatch": Benchmark(
        "benchmarks.dispatch",
        "enqueue cost and commit→task-start latency, Celery on Redis vs Django-Q2 (ORM broker)",
        needs_simulator=False,
    ),
    "scraper": Benchmark(
        "benchmarks.scraper",
        "lookup time and CPU: session kept, fresh context, launch per lookup; RSS over 2,000",
    ),
    # A question of the test suite's, not the product's (tests/browsers.py): run when named.
    "browsers": Benchmark(
        "benchmarks.browsers",
        "launch and lookup CPU: production's Chromium vs the tests' headless shell",
        by_default=False,
    ),
    "politeness": Benchmark(
        "benchmarks.politeness", "rate the site sees under a 200-referral backlog, 1 and 2 workers"
    ),
    "portal": Benchmark(
        "benchmarks.portal", "gunicorn under locust, 10,000 referrals, SQLite and PostgreSQL"
    ),
    # Issue 9 (captcha token pool), owned by its author: about 8 minutes of 20 s solves, so it
    # runs when named (`make bench BENCH_ARGS=captcha_pool`), not in the default set.
    "captcha_pool": Benchmark(
        "benchmarks.captcha_pool",
        "lookups/min with 20 s captcha solves, token pool off vs on",
        by_default=False,
    ),
    # About 13 minutes (two arms of 5), eight workers with their browsers: run when named.
    "lanes": Benchmark(
        "benchmarks.lanes",
        "eight egress lanes on one machine: each lane's polite rate, CPU and memory",
        by_default=False,
    ),
    # About 40 minutes (referrals 60-120 s apart, 30 s solves): run when named,
    # `make bench BENCH_ARGS=lone`.
    "lone": Benchmark(
        "benchmarks.lone",
        "Agregar → final for lone referrals, before and after the captcha pool's warm floor",
        by_default=False,
    ),
}


def default_names() -> list[str]:
    return [name for name, bench in BENCHMARKS.items() if bench.by_default]
