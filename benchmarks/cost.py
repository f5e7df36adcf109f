"""What processes cost: RSS and PSS of a process and its descendants, CPU time over a run."""

from __future__ import annotations

import contextlib
import threading

import psutil


def tree(pid: int, exclude: tuple[int, ...] = (), include_root: bool = True) -> list:
    """`pid` and its descendants (psutil.Process), minus the subtrees rooted at `exclude`."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    skip = set() if include_root else {pid}
    for pid_ in exclude:
        with contextlib.suppress(psutil.NoSuchProcess):
            skip |= {pid_, *(c.pid for c in psutil.Process(pid_).children(recursive=True))}
    return [p for p in procs if p.pid not in skip]


def tree_rss(pid: int, exclude: tuple[int, ...] = ()) -> int:
    """Summed RSS: what `ps` shows. Pages shared between Chromium's processes (and forked
    workers) count once per process, so this overstates what the tree really holds."""
    total = 0
    for proc in tree(pid, exclude):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_info().rss
    return total


def tree_pss(pid: int, exclude: tuple[int, ...] = ()) -> int:
    """Summed PSS: shared pages divided among the processes sharing them, so the sum is the
    memory the tree really costs the machine (what one more worker would add)."""
    total = 0
    for proc in tree(pid, exclude):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += proc.memory_full_info().pss
    return total


def pss_by_kind(pid: int, exclude: tuple[int, ...] = ()) -> dict[str, int]:
    """PSS of the tree split into Python (the root and its pool children), the Playwright
    driver (node) and Chromium (browser, zygotes, GPU, utility and renderer processes)."""
    kinds: dict[str, int] = {"python": 0, "driver": 0, "chromium": 0}
    for proc in tree(pid, exclude):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            name = proc.name().lower()
            kind = "chromium" if "chrom" in name else "driver" if "node" in name else "python"
            kinds[kind] += proc.memory_full_info().pss
    return kinds


class TreeSampler:
    """CPU seconds and peak RSS of process trees over a `with` block, sampled in a thread.

    Chromium starts a renderer per page and ends it with the page, half a second later; its
    parent reaps it, and no CPU of it reaches our own `getrusage(RUSAGE_CHILDREN)` (the zygote
    that reaps renderers is never reaped in turn). So every process is sampled often: one born
    inside the block counts from zero, one alive before from its first sample. What a process
    spends in its last `interval` before exiting is missed: a lower bound, off by little.
    The roots themselves are left out with `include_root=False` (e.g. the benchmark process,
    whose own work is measured otherwise)."""

    def __init__(
        self,
        pids: list[int],
        interval: float = 0.05,
        exclude: tuple[int, ...] = (),
        include_root: bool = True,
    ) -> None:
        self.pids, self.interval = pids, interval
        self.exclude, self.include_root = exclude, include_root
        self.peak_rss = 0
        self._cpu: dict[tuple[int, float], list[float]] = {}  # (pid, born) → [first, last]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = False

    def __enter__(self) -> TreeSampler:
        self.sample()  # processes alive now count from here
        self._started = True
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(last - first for first, last in self._cpu.values())

    def sample(self) -> None:
        rss = 0
        for pid in self.pids:
            for proc in tree(pid, self.exclude, self.include_root):
                with (
                    contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied),
                    proc.oneshot(),
                ):
                    rss += proc.memory_info().rss
                    t = proc.cpu_times()
                    used = t.user + t.system
                    key = (proc.pid, proc.create_time())
                    if key not in self._cpu:
                        self._cpu[key] = [used if not self._started else 0.0, used]
                    self._cpu[key][1] = used
        self.peak_rss = max(self.peak_rss, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()
