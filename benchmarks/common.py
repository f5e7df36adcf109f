"""Shared helpers: percentiles, tables, JSON results, our Redis database, child processes."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from harness.processes import (  # noqa: F401 (free_port, VENV_BIN: for the benchmarks)
    ROOT,
    VENV_BIN,
    ChildProcess,
    celery_command,
    free_port,
    wait_until,
)

RESULTS = Path(__file__).resolve().parent / "results"
LOGS = RESULTS / "logs"


# --- numbers ----------------------------------------------------------------------------------
def pct(values, p: float) -> float:
    """The p-th percentile (0-100), nearest-rank; NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(data)))
    return data[rank - 1]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def secs(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:.2f} s"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def row(name, p50="", tail="", n="", target="", met=None) -> dict:
    """One line of a result table; `met` is True/False, or None when there is no target."""
    return {
        "name": name,
        "p50": p50,
        "tail": tail,
        "n": n,
        "target": target,
        "met": "" if met is None else ("yes" if met else "NO"),
    }


def print_table(
    title: str, rows: list[dict], tail_label: str = "p99", columns: dict | None = None
) -> str:
    """Print and return a Markdown table; `columns` renames headers (e.g. {"p50": "RSS"})."""
    headers = {"name": "name", "p50": "p50", "tail": tail_label, "n": "n"}
    headers |= {"target": "target", "met": "met?"} | (columns or {})
    cols = list(headers)
    widths = {c: max(len(headers[c]), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = [f"\n## {title}", ""]
    lines.append("| " + " | ".join(headers[c].ljust(widths[c]) for c in cols) + " |")
    lines.append("|" + "|".join("-" * (widths[c] + 2) for c in cols) + "|")
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]).ljust(widths[c]) for c in cols) + " |")
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def environment() -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": commit,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "platform": platform.platform(),
    }


def write_result(name: str, data: dict) -> Path:
    """results/<name>.json (the latest: committed, so README tables are traceable) and a copy
    in results/history/ (ignored, like the rest of results/)."""
    (RESULTS / "history").mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    payload = json.dumps(data, indent=1, default=str) + "\n"
    (RESULTS / "history" / f"{name}-{stamp}.json").write_text(payload)
    latest = RESULTS / f"{name}.json"
    latest.write_text(payload)
    return latest


# --- our own Redis database -------------------------------------------------------------------
REDIS_MARK = "bench:cedula-verify"  # says "the benchmarks may empty this database"


def _redis():
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL)


def claim_redis() -> None:
    """Refuse a Redis database that is not ours before emptying it: db 0 (everyone's default)
    or one holding keys without our mark (the tests', another developer's)."""
    client = _redis()
    db = client.connection_pool.connection_kwargs.get("db", 0)
    if int(db) == 0:
        sys.exit(
            "BENCH_REDIS_URL points at Redis db 0: give the benchmarks a database of their own"
        )
    if client.dbsize() and not client.exists(REDIS_MARK):
        sys.exit(
            f"Redis db {db} holds keys the benchmarks did not write; empty it yourself "
            f"(redis-cli -n {db} flushdb) or set BENCH_REDIS_URL to another database"
        )
    reset_redis()


def reset_redis() -> None:
    """Empty our database (limiter slots, queues, results) and mark it as ours again."""
    client = _redis()
    client.flushdb()
    client.set(REDIS_MARK, "1")


# --- processes --------------------------------------------------------------------------------
# The child processes themselves are the harness the tests use too (harness/processes.py).


class Proc(ChildProcess):
    """A child process in its own process group, its output in results/logs/<name>.log."""

    def __init__(self, name: str, cmd: list[str], env: dict | None = None) -> None:
        self.name = name
        env = {**os.environ, **(env or {})}
        super().__init__(cmd, log_path=LOGS / f"{name}.log", env=env, mode="wb")

    def wait_log(self, needle: str, timeout: float = 60.0) -> Proc:
        def seen() -> bool:
            if not self.running():
                raise RuntimeError(f"{self.name} exited early; see {self.log_path}")
            return self.log_has(needle)

        wait_until(seen, timeout, interval=0.1, what=f"{self.name} (see {self.log_path})")
        return self

    def terminate(self) -> None:
        """SIGTERM to the main process only, as `docker stop` or Kubernetes do: a Celery worker
        then stops taking messages and lets its pool child finish the task in hand (a signal
        to the whole group would kill the pool child mid-lookup instead)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()

    def stop(self, timeout: float = 30.0) -> None:
        super().stop(timeout, warm=True)


def stop_workers(workers) -> None:
    """Warm shutdowns in parallel, as `docker stop` does: each finishes its lookup in flight."""
    for w in workers:
        w.terminate()
    for w in workers:
        w.stop()


def celery_worker(name: str, queues: str, app: str = "project", concurrency: int = 1, **env):
    cmd = celery_command(
        "worker", app=app, queues=queues, concurrency=concurrency, name=f"{name}@%h"
    )
    return Proc(name, cmd, {"LOG_LEVEL": "INFO", **env})


class Simulator:
    """The census simulator as its own process (`python -m simulator`)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.proc: Proc | None = None
        self.control = None

    def start(self) -> Simulator:
        from simulator import SimulatorControl

        cmd = [sys.executable, "-m", "simulator", "--port", str(self.port)]
        self.proc = Proc("simulator", cmd)
        self.control = SimulatorControl(self.url)
        wait_until(self._up, timeout=30, interval=0.2, what="the simulator")
        return self

    def _up(self) -> bool:
        try:
            self.control.state()
            return True
        except Exception:
            return False

    def stop(self) -> None:
        if self.control is not None:
            self.control.close()
        if self.proc is not None:
            self.proc.stop()
