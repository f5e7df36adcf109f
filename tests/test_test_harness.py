"""The test harness itself: a run stopped from outside leaves nothing it started behind."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.procs import ROOT, wait_for

PID_FILE_VAR = "HARNESS_PROBE_PID_FILE"


@pytest.fixture
def long_child(tmp_path):
    """A process the test owns, stopped by pid in the teardown (as every fixture here does)."""
    from harness.processes import ChildProcess

    child = ChildProcess(["sleep", "600"], log_path=tmp_path / "sleep.log", env=dict(os.environ))
    yield child
    child.kill()


@pytest.mark.skipif(
    PID_FILE_VAR not in os.environ, reason="run by the test below, in a pytest of its own"
)
def test_probe_starts_a_child_and_waits(long_child):
    with open(os.environ[PID_FILE_VAR], "w") as pid_file:
        pid_file.write(str(long_child.proc.pid))
    time.sleep(600)


@pytest.mark.slow
def test_a_run_stopped_with_sigterm_runs_its_teardowns(tmp_path):
    """`kill` or a CI job's timeout sends SIGTERM; Python's default would die on the spot and
    leave the test's workers, beat and browsers running (seen after a stopped run)."""
    pid_file = tmp_path / "child.pid"
    env = {**os.environ, PID_FILE_VAR: str(pid_file)}
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{__file__}::test_probe_starts_a_child_and_waits"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    child = None
    try:
        wait_for(
            lambda: (pid_file.exists() and pid_file.read_text()) or run.poll() is not None,
            timeout=60,
            message="the probe's child",
        )
        assert run.poll() is None, run.communicate()[0]
        child = int(pid_file.read_text())
        assert psutil.pid_exists(child)
        run.send_signal(signal.SIGTERM)
        output, _ = run.communicate(timeout=30)
        assert run.returncode != 0, output
        wait_for(lambda: not _alive(child), timeout=10, message="the probe's child stopped")
    finally:
        run.kill()
        if child is not None and _alive(child):  # the probe left it: this test stops it
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.browser
def test_a_database_test_after_a_kept_browser_in_one_process(tmp_path):
    """Longest first (tests/conftest.py), a process runs browser tests before the database
    ones. The scraping tests keep their browser open on the test thread, Playwright's sync API
    marks its loop as running there, and Django refuses the ORM on such a thread: without
    `close_kept_browsers`, every later database test in the process errored
    (SynchronousOnlyOperation, 2,841 of them in one run)."""
    env = {**os.environ, "SQLITE_TEST_DB": str(tmp_path / "db.sqlite3")}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/test_health.py::test_healthz_needs_no_login",
         "tests/scraping/test_client_browser.py::test_only_digits_reach_the_site"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert "2 passed" in run.stdout
