"""A calm terminal: beat's routine jobs and htmx polls only at DEBUG, a 403 without traceback,
one clock per line under honcho."""

import logging
import sys

import pytest

from project.logfilters import ForbiddenWithoutTraceback, RoutineAtDebug, mark_request_quiet
from tests.procs import child_env, run_manage


def record(name, message, level=logging.INFO, **extra):
    rec = logging.LogRecord(name, level, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def root_at_info():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    yield
    root.setLevel(level)


def test_routine_jobs_and_polls_stay_out_at_info(root_at_info):
    quiet = RoutineAtDebug()
    assert not quiet.filter(
        record("celery.app.trace", "Task referrals.tasks.beat_heartbeat[x] succeeded in 0.01s")
    )
    assert not quiet.filter(record("celery.beat", "Scheduler: Sending due task beat-heartbeat"))
    assert quiet.filter(record("celery.app.trace", "Task referrals.tasks.verify_referral[x] ok"))
    assert quiet.filter(record("celery.app.trace", "beat_heartbeat raised", level=logging.ERROR))
    mark_request_quiet(True)
    assert not quiet.filter(record("django.server", '"GET /referidos/ HTTP/1.1" 200'))
    mark_request_quiet(False)
    assert quiet.filter(record("django.server", '"GET /referidos/ HTTP/1.1" 200'))
    logging.getLogger().setLevel(logging.DEBUG)
    assert quiet.filter(record("celery.beat", "Scheduler: Sending due task beat-heartbeat"))


def test_a_403_is_one_line_without_traceback():
    try:
        raise PermissionError("nope")
    except PermissionError:
        info = sys.exc_info()
    forbidden = record("django.request", "Forbidden (Permission denied): /ops/", status_code=403)
    forbidden.exc_info = info
    assert ForbiddenWithoutTraceback().filter(forbidden) and forbidden.exc_info is None
    server_error = record("django.request", "Internal Server Error", status_code=500)
    server_error.exc_info = info
    ForbiddenWithoutTraceback().filter(server_error)
    assert server_error.exc_info is info


def test_one_clock_per_line_under_honcho():
    code = "import logging; logging.getLogger('x').warning('hello')"
    for stamps, expected in (("0", "WARNING x hello"), ("1", " WARNING x hello")):
        result = run_manage(
            "shell", "-c", code, env=child_env(DEBUG="1", LOG_TIMESTAMPS=stamps), timeout=60
        )
        line = next(x for x in result.stderr.splitlines() if x.endswith("x hello"))
        assert (line == "WARNING x hello") == (stamps == "0"), line
        assert line.endswith(expected)
