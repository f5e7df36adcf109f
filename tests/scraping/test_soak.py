"""Many lookups in one process: no context left open, memory bounded, latency measured.

Run alone with `-s` to see the numbers; SCRAPING_SOAK_LOOKUPS changes the count (default 200).
"""

import os
import statistics
import time

import psutil
import pytest

from simulator import expected_status

LOOKUPS = int(os.environ.get("SCRAPING_SOAK_LOOKUPS", "200"))
# Its subject is the client: no context left open, no growth. It drives the tests' browser
# (tests/browsers.py); production's over 2,000 lookups is the scraper benchmark's (README).
# Bound for RSS of this Python process + the whole browser tree (measured on the dev box at
# 0.58–0.73 GB with chromium-headless-shell 156, 1.15–1.3 GB with the full chromium, the
# session's page kept between lookups, summing RSS per process, so shared pages count many
# times). Growth is the sharper test: a context leak adds tens of MB per lookup, ~GBs over the
# run.
RSS_BOUND_MB = 1000
GROWTH_BOUND_MB = 250


def total_rss_mb(client) -> float:
    return (psutil.Process().memory_info().rss + client.browser_rss_bytes()) / 2**20


@pytest.mark.browser
@pytest.mark.soak
@pytest.mark.timeout(900)  # 200 lookups: 3-5 min beside other tests on two cores
def test_many_lookups_leave_no_context_and_bounded_memory(make_client, simulator):
    client = make_client(relaunch_every=0, browser_max_rss_mb=0)  # no relaunch: the real growth
    durations, rss = [], []
    for i in range(LOOKUPS):
        cedula = str(20_000_000 + i * 7919)
        started = time.perf_counter()
        result = client.lookup(cedula)
        durations.append(time.perf_counter() - started)
        assert result.status.value == expected_status(cedula)
        if i % 5 == 4:
            rss.append(total_rss_mb(client))
    assert client.open_contexts() == 1  # the kept session's, none per lookup
    # A session serves session_lookups lookups (all answered here), then a new one starts.
    assert client.counters()["sessions"] == -(-LOOKUPS // client.config.session_lookups)
    assert client.counters()["browser_launches"] == 1
    durations.sort()
    p50 = statistics.median(durations)
    p95 = durations[int(len(durations) * 0.95) - 1]
    # Per-process RSS sums jump by a renderer or two between samples: compare medians of the
    # first and last quarter of the run rather than single samples.
    quarter = max(1, len(rss) // 4)
    early, late = statistics.median(rss[:quarter]), statistics.median(rss[-quarter:])
    print(
        f"\n{LOOKUPS} lookups: p50 {p50:.3f}s p95 {p95:.3f}s max {durations[-1]:.3f}s; "
        f"RSS process+browser min {min(rss):.0f} MB, max {max(rss):.0f} MB, "
        f"median first quarter {early:.0f} MB, last quarter {late:.0f} MB"
    )
    assert max(rss) < RSS_BOUND_MB
    assert late - early < GROWTH_BOUND_MB
    log = simulator.control.log()
    assert len(log) == LOOKUPS
    assert all(entry["outcome"] == expected_status(entry["cedula"]) for entry in log)
