"""CPU load for the tests that must run on saturated cores: busy loops, at normal priority or
taking only the idle time.

`nice` alone does not make a loop idle-only. With the kernel's autogroups on (Debian's default
whenever processes sit in the root cgroup), CPU time is shared first between sessions, and
niceness counts only inside one. Every Celery worker (harness.processes) and every Chromium
(Playwright launches it detached) runs in a session of its own, so a nice-19 loop in the test's
session took a whole session's share: about 45 CPU-s of a suite run. An idle-only loop gets a
session of its own, and niced that session's autogroup to 19 too.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil

_LOOP = "while True: pass"
_IDLE_ONLY_LOOP = (
    "import contextlib, os\n"
    "with contextlib.suppress(OSError), open('/proc/self/autogroup', 'w') as group:\n"
    "    group.write('19')  # a kernel without autogroups: os.nice below suffices\n"
    "os.nice(19)\n" + _LOOP
)


@contextlib.contextmanager
def cpu_hogs(n: int = 2, *, idle_only: bool = False) -> Iterator[list[subprocess.Popen]]:
    """`n` busy loops (one per core for n = 2 on two cores), killed on exit."""
    code = _IDLE_ONLY_LOOP if idle_only else _LOOP
    hogs = [
        subprocess.Popen([sys.executable, "-c", code], start_new_session=idle_only)
        for _ in range(n)
    ]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(10)


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def hog_share_beside_a_busy_process(*, idle_only: bool, seconds: float = 1.0) -> float:
    """CPU-s a hog took per CPU-s a busy loop in another session (a worker's place) took, both
    on one core for `seconds`. Run it from a session of its own: a busy session around a
    nice-only hog would starve it too, and hide what this measures."""
    core = min(os.sched_getaffinity(0))
    busy = subprocess.Popen([sys.executable, "-c", _LOOP], start_new_session=True)
    try:
        with cpu_hogs(1, idle_only=idle_only) as [hog]:
            for proc in (busy, hog):
                os.sched_setaffinity(proc.pid, {core})
            time.sleep(0.3)  # both started (a Python start costs CPU of its own)
            before = cpu_seconds(hog.pid), cpu_seconds(busy.pid)
            time.sleep(seconds)
            taken = cpu_seconds(hog.pid) - before[0]
            kept = cpu_seconds(busy.pid) - before[1]
    finally:
        busy.kill()
        busy.wait(10)
    return taken / kept
