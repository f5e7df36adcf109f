"""Child processes that tests and benchmarks start and must stop: Celery workers, beat, the
simulator. Each runs in its own process group with its output in a log file, so that stopping
it stops everything it started, even when the test or benchmark fails.

Django-free: the tests add the test database and their readiness checks (tests/procs.py), the
benchmarks their own Redis database and log folder (benchmarks/common.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nobody listens on right now, for a server the caller starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns something truthy (returned), or raise TimeoutError
    naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def celery_command(
    kind: str, *, app: str = "project", queues: str = "", concurrency: int = 1,
    pool: str = "prefork", name: str = "", schedule: str = "",
) -> list[str]:  # fmt: skip
    """`celery worker` (kind "worker") or `celery beat` (kind "beat") as production runs them."""
    cmd = [str(VENV_BIN / "celery"), "-A", app, kind, "--loglevel", "INFO"]
    if kind == "beat":
        return [*cmd, "--schedule", schedule]
    cmd += ["-Q", queues, "-c", str(concurrency), "-P", pool, "-n", name]
    return [*cmd, "--without-gossip", "--without-mingle"]


class ChildProcess:
    """`cmd` in its own process group, stdout and stderr appended to `log_path`."""

    def __init__(self, cmd: list[str], *, log_path: Path, env: dict, mode: str = "ab") -> None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path = log_path
        self._log = open(log_path, mode)  # noqa: SIM115 (closed in stop/kill)
        self.env = env
        self._killed = False
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_has(self, needle: str) -> bool:
        return needle.encode() in self.log_path.read_bytes()

    def kill(self) -> None:
        """SIGKILL the whole group: main process and its children, no goodbyes. Once only: a
        second call must not signal a group id the system may have given to someone else."""
        if self._killed:
            return
        self._killed = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 15.0, *, warm: bool = False) -> None:
        """SIGTERM, then SIGKILL after `timeout`, then SIGKILL to whatever of the group is left.
        `warm` signals the main process only, as `docker stop` does: a Celery worker then
        finishes the task in hand (a signal to the group would kill its pool child mid-task)."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                if warm:
                    self.proc.terminate()
                else:
                    os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill()
