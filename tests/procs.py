"""Real processes for tests: Celery workers (and later beat, Flower) on the test database."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def test_database_url() -> str:
    """The URL of the database the tests use, for processes started by the tests."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def free_port() -> int:
    """A TCP port nobody listens on right now, for a server the test starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_manage(*args: str, env: dict, timeout: float = 90) -> subprocess.CompletedProcess:
    """`python manage.py <args>` in its own process, output captured as text."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def child_env(**overrides) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class WorkerProcess:
    """`celery worker` as its own process group, the way production runs it."""

    def __init__(
        self,
        *,
        queues="scraping,default",
        concurrency=1,
        pool="prefork",
        name="w1",
        env=None,
        log=None,
    ):
        self.name = f"{name}-{os.getpid()}@%h"
        self.log_path = log or ROOT / "test-artifacts" / f"worker-{name}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        cmd = [
            str(VENV_BIN / "celery"),
            "-A",
            "project",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-P",
            pool,
            "-n",
            self.name,
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env or child_env(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout=30.0):
        from project.celery import app

        deadline = time.monotonic() + timeout
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        ready_line = f"{self.name.split('@')[0]}@".encode()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            with open(self.log_path, "rb") as log:
                log.seek(max(0, offset - 4096))
                if any(ready_line in line and b" ready." in line for line in log):
                    return self
            replies = app.control.ping(timeout=0.5) or []
            if any(self.name.split("@")[0] in next(iter(r)) for r in replies):
                return self
        raise TimeoutError(f"worker not ready in {timeout}s; see {self.log_path}")

    def child_pids(self) -> list[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=False)]

    def kill(self):
        """SIGKILL the whole worker: main process and its pool children, no goodbyes."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout=15.0):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log.close()


class BeatProcess:
    """`celery beat`, its schedule file private to the test run, its log in test-artifacts."""

    def __init__(self, *, env, name="beat"):
        self.log_path = ROOT / "test-artifacts" / f"beat-{name}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        schedule = f"/tmp/celerybeat-{name}-{os.getpid()}"
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "project", "beat", "--loglevel", "INFO",
             "--schedule", schedule],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self._log.close()


def wait_for(predicate, timeout=30.0, interval=0.2, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class WebhookReceiver:
    """An HTTP endpoint on loopback that records what is posted to it (alert payloads)."""

    def __init__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    received.append(json.loads(body))
                except ValueError:
                    received.append({"raw": body.decode(errors="replace")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
