"""Real processes for tests: Celery workers and beat on the test database (built on the
harness the benchmarks share), manage.py commands, a webhook receiver."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from harness.processes import ROOT, VENV_BIN, ChildProcess, celery_command, free_port, wait_until
from tests.browsers import TEST_BROWSER

__all__ = ["ROOT", "VENV_BIN", "child_env", "free_port", "run_manage", "wait_for"]
# Parallel test processes (pytest-xdist) keep their logs apart: worker-w1-gw0.log, ...
LOG_SUFFIX = f"-{os.environ['PYTEST_XDIST_WORKER']}" if "PYTEST_XDIST_WORKER" in os.environ else ""


def test_database_url() -> str:
    """The URL of the database the tests use, for processes started by the tests."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


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
    # Workers and commands look up with the tests' browser (tests/browsers.py) unless the run
    # names one.
    env.setdefault("SCRAPING_BROWSER_PATH", TEST_BROWSER)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class WorkerProcess(ChildProcess):
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
        cmd = celery_command(
            "worker", queues=queues, concurrency=concurrency, pool=pool, name=self.name
        )
        log_path = log or ROOT / "test-artifacts" / f"worker-{name}{LOG_SUFFIX}.log"
        super().__init__(cmd, log_path=log_path, env=env or child_env())

    def wait_ready(self, timeout=30.0):
        """Until the worker's heartbeat is in its Redis: what the pipeline itself counts as a
        live worker (health, metrics, orphan reclaim), written just after the consumer starts."""
        import redis

        from pipeline.broker import HEARTBEAT_PREFIX

        client = redis.Redis.from_url(self.env["REDIS_URL"])
        pattern = f"{HEARTBEAT_PREFIX}{self.name.split('@')[0]}@*"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                self.kill()  # whatever of its process group is left
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            with contextlib.suppress(redis.RedisError):
                if next(client.scan_iter(match=pattern, count=1000), None) is not None:
                    return self
            time.sleep(0.1)
        self.kill()  # never ready: nobody would stop it otherwise
        raise TimeoutError(f"worker not ready in {timeout}s; see {self.log_path}")

    def child_pids(self) -> list[int]:
        import psutil

        return [c.pid for c in psutil.Process(self.proc.pid).children(recursive=False)]

    @property
    def node(self) -> str:
        """The worker's node name as Celery and its heartbeat spell it (`%h` expanded)."""
        return self.name.replace("%h", socket.gethostname())

    def sigkill_tree(self) -> None:
        """SIGKILL the main process, its pool children and their browsers at once: an OOM
        kill or a lost node, with no chance to say goodbye."""
        import psutil

        main = psutil.Process(self.proc.pid)
        procs = [main, *main.children(recursive=True)]
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        psutil.wait_procs(procs, timeout=10)


class BeatProcess(ChildProcess):
    """`celery beat`, its schedule file private to the test run, its log in test-artifacts."""

    def __init__(self, *, env, name="beat"):
        schedule = f"/tmp/celerybeat-{name}-{os.getpid()}"
        log_path = ROOT / "test-artifacts" / f"beat-{name}{LOG_SUFFIX}.log"
        super().__init__(celery_command("beat", schedule=schedule), log_path=log_path, env=env)


class RedisServer:
    """A Redis of the test's own on a free port, that the test can stop, kill and start again:
    persisted like production's (appendonly: a stop writes it, a start reads it back) or not
    at all (a restart comes back empty)."""

    def __init__(self, *, name: str, persist: bool, data_dir: Path):
        port = free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "yes" if persist else "no", "--dir", str(data_dir)]  # fmt: skip
        self.log_path = ROOT / "test-artifacts" / f"{name}-redis{LOG_SUFFIX}.log"
        self.process: ChildProcess | None = None

    def start(self) -> "RedisServer":
        import redis

        self.process = ChildProcess(self.cmd, log_path=self.log_path, env=dict(os.environ))
        client = redis.Redis.from_url(self.url)

        def pings():
            with contextlib.suppress(redis.RedisError):
                return client.ping()

        wait_for(pings, timeout=10, message=f"the Redis on {self.url}")
        return self

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits."""
        if self.process is not None:
            self.process.stop(10, warm=True)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self) -> None:
        self.kill()
        self.start()


def wait_for(predicate, timeout=30.0, interval=0.2, message="condition"):
    return wait_until(predicate, timeout, interval, what=message)


class WebhookReceiver:
    """An HTTP endpoint on loopback that records what is posted to it (alert payloads, product
    webhooks): `received` the JSON bodies, `requests` each POST's headers and raw body. The
    first `fail_first` POSTs are answered 500 (a receiver that is down for a while)."""

    def __init__(self, fail_first: int = 0):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []
        requests = self.requests = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                failing = len(requests) < receiver.fail_first
                requests.append(
                    {
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                        "answered": 500 if failing else 200,
                    }
                )
                if not failing:
                    try:
                        received.append(json.loads(body))
                    except ValueError:
                        received.append({"raw": body.decode(errors="replace")})
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def apprise_url(self) -> str:
        return f"json://127.0.0.1:{self.port}/alerts"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
