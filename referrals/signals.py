"""Celery signal handlers: no referral stays in flight after its task died; the browser lives
and dies with the pool process that uses it."""

import logging

from celery.signals import (
    task_failure,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

logger = logging.getLogger(__name__)


@task_failure.connect
def referral_task_failed(sender=None, task_id=None, exception=None, args=None, **kwargs):
    if sender is None or sender.name != "referrals.tasks.verify_referral" or not args:
        return
    from .verification import fail_referral

    fail_referral(args[0], exception)


@worker_process_init.connect
def configure_census_client(**kwargs):
    # The browser itself starts lazily, on this pool process's first lookup (after fork).
    from scraping.client import configure_default_client

    from .verification import pace_submission

    configure_default_client(pacer=pace_submission)


@worker_process_shutdown.connect
def close_browser(**kwargs):
    # The browser is launched lazily, after fork, by the first lookup of each pool process.
    from scraping.client import close_default_client

    close_default_client()


@worker_init.connect
def refuse_inconsistent_timing(**kwargs):
    """Django checks do not run in a Celery worker: run ours, and refuse to start on errors."""
    from django.core.checks import run_checks

    errors = run_checks(tags=["celery"])
    if errors:
        # Celery logs and swallows exceptions from signal handlers: exit explicitly.
        raise SystemExit("Refusing to start:\n" + "\n".join(str(e) for e in errors))
