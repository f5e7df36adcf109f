"""The Celery-on-Redis timing check: Django's check framework, and the worker's start-up."""

import subprocess

from pipeline.checks import check_celery_timing
from tests.procs import ROOT, child_env, run_manage


def ids(errors):
    return sorted(e.id for e in errors)


def test_consistent_defaults_pass(settings):
    assert check_celery_timing() == []


def test_visibility_timeout_below_the_time_limit_is_an_error(settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 120}
    errors = check_celery_timing()
    assert "pipeline.E001" in ids(errors)
    names = " ".join(e.msg for e in errors)
    assert "SCRAPING_TASK_TIME_LIMIT" in names and "CIRCUIT_COOLDOWN" in names


def test_backoff_longer_than_visibility_is_an_error(settings):
    settings.SCRAPING_RETRY_BACKOFF_MAX = 4000
    assert "SCRAPING_RETRY_BACKOFF_MAX" in " ".join(e.msg for e in check_celery_timing())


def test_soft_limit_after_hard_and_prefetch_are_errors(settings):
    settings.SCRAPING_TASK_SOFT_TIME_LIMIT = settings.SCRAPING_TASK_TIME_LIMIT
    settings.CELERY_WORKER_PREFETCH_MULTIPLIER = 4
    assert ids(check_celery_timing()) == ["pipeline.E002", "pipeline.E003"]


def test_manage_check_and_the_worker_refuse_to_start_on_bad_timing():
    env = child_env(CELERY_VISIBILITY_TIMEOUT="60", SCRAPING_TASK_TIME_LIMIT="180")
    check = run_manage("check", env=env, timeout=60)
    assert check.returncode != 0 and "pipeline.E001" in check.stderr
    worker = subprocess.run(
        [str(ROOT / ".venv/bin/celery"), "-A", "project", "worker", "-Q", "scraping", "-c", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode != 0
    assert "pipeline.E001" in worker.stdout + worker.stderr


def test_limiter_key_from_a_proxy_keeps_no_password():
    from scraping.config import ScrapingConfig

    def key(proxy):
        return ScrapingConfig(proxy=proxy).limiter_key

    assert key("http://user:s3cret@proxy-a.example:3128") == "proxy-a.example:3128"
    assert key(None) == "direct"
    assert ScrapingConfig(proxy="http://p:3128", egress_key="lane-7").limiter_key == "lane-7"
