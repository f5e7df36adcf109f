"""Many lookups in one process: no context left open, memory bounded, latency measured.

Run alone with `-s` to see the numbers; SCRAPING_SOAK_LOOKUPS changes the count (default 200).
"""

import os
import statistics
import time

import psutil
import pytest

from scraping.simulator import expected_status

LOOKUPS = int(os.environ.get("SCRAPING_SOAK_LOOKUPS", "200"))
# Bound for RSS of this Python process + the whole browser tree after the run (measured on the
# dev box at ~0.9 GB with Chromium 156, summing RSS per process, so shared pages count many
# times). Growth is the sharper test: a context leak adds tens of MB per lookup.
RSS_BOUND_MB = 1500
GROWTH_BOUND_MB = 250


def total_rss_mb(client) -> float:
    return (psutil.Process().memory_info().rss + client.browser_rss_bytes()) / 2**20


@pytest.mark.browser
@pytest.mark.soak
def test_many_lookups_leave_no_context_and_bounded_memory(make_client, simulator):
    client = make_client(relaunch_every=0, browser_max_rss_mb=0)  # no relaunch: see real growth
    durations, rss = [], []
    for i in range(LOOKUPS):
        cedula = str(20_000_000 + i * 7919)
        started = time.perf_counter()
        result = client.lookup(cedula)
        durations.append(time.perf_counter() - started)
        assert result.status.value == expected_status(cedula)
        if i % 10 == 0 or i == LOOKUPS - 1:
            rss.append(total_rss_mb(client))
    assert client.open_contexts() == 0
    assert client.counters()["browser_launches"] == 1
    durations.sort()
    p50 = statistics.median(durations)
    p95 = durations[int(len(durations) * 0.95) - 1]
    warm = rss[1] if len(rss) > 1 else rss[0]
    print(
        f"\n{LOOKUPS} lookups: p50 {p50:.3f}s p95 {p95:.3f}s max {durations[-1]:.3f}s; "
        f"RSS process+browser first {rss[0]:.0f} MB, after warm-up {warm:.0f} MB, "
        f"max {max(rss):.0f} MB, last {rss[-1]:.0f} MB"
    )
    assert max(rss) < RSS_BOUND_MB
    assert rss[-1] - warm < GROWTH_BOUND_MB
    log = simulator.control.log()
    assert len(log) == LOOKUPS
    assert all(entry["outcome"] == expected_status(entry["cedula"]) for entry in log)
