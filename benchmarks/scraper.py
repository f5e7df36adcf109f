"""Scraper: one lookup with the project's client, before and after, vs a browser per lookup.

Three ways to look up, one after the other in the same run, against the local simulator with
human pauses off (captcha through its 2captcha-compatible API, no solve delay, polled every
50 ms):

- **session** (the project): one Chromium, one browser session (context and page) kept for
  SCRAPING_SESSION_LOOKUPS lookups (`scraping.client.BrowserSession`);
- **fresh context** (before): the same client with `session_lookups=1`, a new context and page
  for every lookup, which is what it did until the session came;
- **naive**: a `CensusClient` built per lookup and closed after (Playwright driver and browser
  launched every time).

Memory is taken over the session's run, at lookups 200, 1,000 and 2,000 (and every 25), over the
process tree that does the lookups: this Python process (Django loaded, as in a worker), the
Playwright driver and every Chromium process (the simulator, also a child, left out). RSS is
summed as `ps` shows it; PSS divides shared pages among the processes sharing them, so it is
what the tree really costs the machine. The periodic relaunch (SCRAPING_RELAUNCH_EVERY, 200 in
production) is off here so the growth measured is the client's own, not hidden by a relaunch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import psutil

from benchmarks.common import mib, ms, pct, print_table, row, wait_until
from benchmarks.cost import TreeSampler, pss_by_kind, tree, tree_pss, tree_rss

REUSED = int(os.environ.get("BENCH_SCRAPER_LOOKUPS", "2000"))
FRESH = int(os.environ.get("BENCH_SCRAPER_FRESH", "100"))
NAIVE = int(os.environ.get("BENCH_SCRAPER_NAIVE", "100"))
MEMORY_AT = (200, 1000, 2000)  # the points the table shows; growth is judged 200 → 2,000
# Memory is also sampled every MEMORY_EVERY lookups: the driver's (node) heap swings by tens of
# MiB as V8 collects, so one sample may land at a peak or a trough; medians over a window don't.
MEMORY_EVERY = 25


def cedula(i: int) -> str:
    return str(1_100_000_000 + i * 7919)  # the simulator answers every number (85 % found)


def timed_lookup(client, number: str, errors: Counter) -> float:
    from scraping.errors import ScrapingError

    t0 = time.perf_counter()
    try:
        client.lookup(number)
    except ScrapingError as exc:
        errors[type(exc).__name__] += 1
    return time.perf_counter() - t0


def renderers(exclude: tuple[int, ...]) -> int:
    count = 0
    for proc in tree(os.getpid(), exclude):
        with contextlib.suppress(psutil.Error):
            count += any(a == "--type=renderer" for a in proc.cmdline())
    return count


def memory_point(client, lookup: int, exclude: tuple[int, ...]) -> dict:
    """Memory between two lookups, once a closed session's renderer processes are gone (the
    kept session's page holds one): while they wind down, a point in time would count them or
    not, by chance."""
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: renderers(exclude) <= client.open_contexts(),
            timeout=5,
            what="renderers to exit",
        )
    return {
        "lookup": lookup,
        "tree_rss_bytes": tree_rss(os.getpid(), exclude),
        "tree_pss_bytes": tree_pss(os.getpid(), exclude),
        "pss_by_kind_bytes": pss_by_kind(os.getpid(), exclude),
        "browser_rss_bytes": client.browser_rss_bytes(),
        "open_contexts": client.open_contexts(),
    }


# A lookup's steps (LookupFlow's public methods, and the solver), for the profile.
STEPS = {
    "open_form": "page load through the F5-like gate, to the form",
    "wait_for_elections": "elections list (the page's XHR)",
    "type_cedula": "fill the cédula",
    "captcha_widget": "find the reCAPTCHA widget",
    "solve": "captcha token from the solver API",
    "inject_token": "inject the token",
    "submit": "consulta: submit → answer parsed",
}


@contextlib.contextmanager
def step_timer(client):
    """Time each step of every lookup `client` makes; yields {step: [seconds, ...]}."""
    from scraping.flow import LookupFlow

    spent: dict[str, list[float]] = defaultdict(list)

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name].append(time.perf_counter() - t0)

        return wrapper

    flow_steps = [name for name in STEPS if hasattr(LookupFlow, name)]
    originals = {name: getattr(LookupFlow, name) for name in flow_steps}
    solve = client.solver.solve
    for name, fn in originals.items():
        setattr(LookupFlow, name, timed(name, fn))
    client.solver.solve = timed("solve", solve)
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(LookupFlow, name, fn)
        client.solver.solve = solve


@contextlib.contextmanager
def cpu_meter(exclude: tuple[int, ...]):
    """CPU seconds of the block: this thread's (the Python side of each lookup) plus every
    descendant process's (driver, browsers), sampled; filled in when the block ends."""
    spent: dict[str, float] = {}
    thread_start = time.thread_time()
    with TreeSampler([os.getpid()], exclude=exclude, include_root=False) as children:
        yield spent
    spent["python"] = time.thread_time() - thread_start
    spent["children"] = children.cpu_seconds
    spent["total"] = spent["python"] + spent["children"]


def measure(
    simulator, reused_n: int, fresh_n: int, naive_n: int, memory_at: tuple[int, ...], every: int
) -> dict:
    from scraping.client import CensusClient
    from scraping.config import ScrapingConfig

    config = dataclasses.replace(ScrapingConfig.from_env(), relaunch_every=0)
    exclude = (simulator.proc.pid,)
    errors: Counter = Counter()

    reused, memory, steps = [], [], []
    with cpu_meter(exclude) as cpu_reused:
        client = CensusClient(config)
        try:
            with step_timer(client) as spent:
                for i in range(reused_n):
                    reused.append(timed_lookup(client, cedula(i), errors))
                    steps.append({name: sum(spent.pop(name, ())) for name in STEPS})
                    if i + 1 in memory_at or (i + 1) % every == 0:
                        memory.append(memory_point(client, i + 1, exclude))
            counters = client.counters()
        finally:
            client.close()

    fresh = []
    with cpu_meter(exclude) as cpu_fresh:
        client = CensusClient(dataclasses.replace(config, session_lookups=1))
        try:
            timed_lookup(client, cedula(50_000), errors)  # its launch, outside the figures
            for i in range(fresh_n):
                fresh.append(timed_lookup(client, cedula(50_001 + i), errors))
        finally:
            client.close()

    naive = []
    with cpu_meter(exclude) as cpu_naive:
        for i in range(naive_n):
            with CensusClient(config) as launched:
                naive.append(timed_lookup(launched, cedula(100_000 + i), errors))
    return {
        "cpu_s": {
            "reused": cpu_reused["total"],
            "fresh": cpu_fresh["total"],
            "naive": cpu_naive["total"],
        },
        "cpu_split_s": {"reused": cpu_reused, "fresh": cpu_fresh, "naive": cpu_naive},
        "reused_s": reused,
        "reused_steps_s": steps,
        "fresh_s": fresh,
        "naive_s": naive,
        "memory": memory,
        "memory_at": memory_at,
        "errors": dict(errors),
        "client_counters": counters,
    }


def run(simulator, quick: bool = False) -> dict:
    if quick:
        reused_n, fresh_n, naive_n, memory_at, every = 100, 20, 10, (20, 50, 100), 10
    else:
        reused_n, fresh_n, naive_n = REUSED, FRESH, NAIVE
        memory_at, every = MEMORY_AT, MEMORY_EVERY
    simulator.control.reset()
    # Playwright's sync API keeps an asyncio loop on its thread: keep it off the main thread,
    # where Django's ORM refuses to run next to a running loop.
    with ThreadPoolExecutor(1, thread_name_prefix="bench-browser") as pool:
        data = pool.submit(
            measure, simulator, reused_n, fresh_n, naive_n, memory_at, every
        ).result()
    return report(data)


def report(data: dict) -> dict:
    # The first reused lookup launches the driver and the browser: left out of the reused
    # figures (it is one of a worker's thousands), reported on its own row.
    first, reused = data["reused_s"][0], data["reused_s"][1:]
    fresh, naive = data.get("fresh_s", []), data["naive_s"]
    r50, f50, n50 = pct(reused, 50), pct(fresh, 50), pct(naive, 50)
    speedup = n50 / r50
    rows = [
        row("lookup, session kept (project, after)", ms(r50), ms(pct(reused, 95)), len(reused)),
        row("  the first one (driver + browser launch)", ms(first), "", 1),
        row("lookup, fresh context per lookup (before)", ms(f50), ms(pct(fresh, 95)), len(fresh)),
        row("lookup, browser per lookup (naive)", ms(n50), ms(pct(naive, 95)), len(naive)),
        row("  launch cost, naive p50 − session p50", ms(n50 - r50)),
        row("p50 speed-up, naive ÷ session", f"{speedup:.1f}×", "", "", "≥ 3×", speedup >= 3),
    ]
    cpu = {k: v / len(data[f"{k}_s"]) for k, v in data["cpu_s"].items() if data.get(f"{k}_s")}
    cpu_rows = [
        ("CPU per lookup, session kept (after)", "reused", "≤ 0.35 s"),
        ("CPU per lookup, fresh context (before)", "fresh", ""),
        ("CPU per lookup, browser per lookup (naive)", "naive", ""),
    ]
    for label, key, target in cpu_rows:
        if key in cpu:
            met = cpu[key] <= 0.35 if target else None
            rows.append(
                row(label, f"{cpu[key]:.2f} s", f"{1 / cpu[key]:.1f}/CPU-s", "", target, met)
            )
    errors = sum(data["errors"].values())
    tried = len(reused) + len(fresh) + len(naive) + 1
    rows.append(row("failed lookups", errors, "", tried, "0", errors == 0))
    memory_rows, growth = memory_report(data["memory"], data["memory_at"])
    data["speedup_p50"] = speedup
    data["memory_growth"] = growth
    data["table"] = print_table(
        "Scraper: session kept vs fresh context vs launch per lookup",
        rows,
        "p95 (CPU: lookups per CPU-s)",
    )
    data["table"] += "\n" + print_table(
        "Scraper: memory of the lookup process tree (Python + driver + Chromium)",
        memory_rows,
        columns={"p50": "RSS (sum)", "tail": "PSS", "n": "open contexts"},
    )
    profile_rows = step_report(data["reused_s"][1:], data["reused_steps_s"][1:])
    data["table"] += "\n" + print_table(
        "Scraper: where a reused-browser lookup's time goes",
        profile_rows,
        columns={"p50": "p50", "tail": "share of p50 total"},
    )
    data["rows"] = rows + memory_rows + profile_rows
    return data


def step_report(totals: list[float], steps: list[dict]) -> list[dict]:
    """Median of each step, and the rest (a new session every session_lookups) per lookup."""
    rest = [total - sum(s.values()) for total, s in zip(totals, steps, strict=True)]
    columns = {name: [s[name] for s in steps] for name in STEPS}
    columns["rest"] = rest
    total50 = pct(totals, 50)
    labels = STEPS | {"rest": "the rest: a new session now and then, detaching the lookup"}
    return [
        row(labels[name], ms(pct(values, 50)), f"{pct(values, 50) / total50:.0%}", len(values))
        for name, values in columns.items()
    ]


def memory_report(samples: list[dict], shown: tuple[int, ...]) -> tuple[list[dict], dict]:
    points = [p for p in samples if p["lookup"] in shown]
    rows = [
        row(
            f"after lookup {p['lookup']}",
            mib(p["tree_rss_bytes"]),
            mib(p["tree_pss_bytes"]),
            p["open_contexts"],
        )
        for p in points
    ]
    if len(points) < 2:
        return rows, {}
    first, last = points[0], points[-1]
    span = f"{first['lookup']}→{last['lookup']}"
    growth = {
        kind: last[f"tree_{kind}_bytes"] / first[f"tree_{kind}_bytes"] - 1
        for kind in ("rss", "pss")
    }
    rows.append(
        row(
            f"growth {span}, one sample each",
            f"{growth['rss']:+.1%}",
            f"{growth['pss']:+.1%}",
            "",
            f"RSS < 10 % ({span})",
            growth["rss"] < 0.10,
        )
    )
    # The same growth between the medians of the first and the last fifth of the samples.
    samples = [p for p in samples if p["lookup"] >= first["lookup"]]
    fifth = max(1, len(samples) // 5)
    early, late = samples[:fifth], samples[-fifth:]
    window = (
        f"{early[0]['lookup']}-{early[-1]['lookup']} → {late[0]['lookup']}-{late[-1]['lookup']}"
    )

    def trend(value) -> float:
        return pct([value(p) for p in late], 50) / pct([value(p) for p in early], 50) - 1

    growth["rss_trend"] = trend(lambda p: p["tree_rss_bytes"])
    growth["pss_trend"] = trend(lambda p: p["tree_pss_bytes"])
    rows.append(
        row(
            f"growth, medians of lookups {window}",
            f"{growth['rss_trend']:+.1%}",
            f"{growth['pss_trend']:+.1%}",
            len(early) + len(late),
        )
    )
    for kind, pss in last["pss_by_kind_bytes"].items():
        change = trend(lambda p, k=kind: p["pss_by_kind_bytes"][k])
        rows.append(
            row(
                f"  {kind} at {last['lookup']} (PSS, median growth)", "", mib(pss), f"{change:+.1%}"
            )
        )
    return rows, growth
