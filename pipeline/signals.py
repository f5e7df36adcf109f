"""Celery signal handlers: no referral stays in flight after its task died; the browser lives
and dies with the pool process that uses it."""

import logging

from celery.signals import (
    task_failure,
    task_revoked,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)
from django.conf import settings
from django.core.checks import run_checks

from scraping.captcha import make_solver
from scraping.client import close_default_client, configure_default_client

from . import captcha_pool, dispatch
from .egress import pace_submission
from .verification import fail_referral

logger = logging.getLogger(__name__)


@task_failure.connect
def referral_task_failed(sender=None, task_id=None, exception=None, args=None, **kwargs):
    if sender is None or sender.name != dispatch.VERIFY_REFERRAL or not args:
        return
    fail_referral(args[0], exception)


@task_revoked.connect
def captcha_solve_dropped(sender=None, request=None, **kwargs):
    # A solve order that expired unstarted no longer counts as on its way: order it afresh.
    if sender is None or sender.name != dispatch.SOLVE_CAPTCHA_TOKEN or not request:
        return
    captcha_pool.token_pool().end_solve(request.args[0])


@worker_process_init.connect
def configure_census_client(**kwargs):
    # The browser itself starts lazily, on this pool process's first lookup (after fork).
    # Inline solves (pool off, or empty) are counted as spend; pre-solved tokens come first.
    pool = captcha_pool.token_pool()
    solver = pool.metered(make_solver(settings.SCRAPING))
    # A ready token; else one a pool solve is about to deliver; else an inline solve. A pool
    # token whose consulta was held back (no rate slot in time) goes back to the pool.
    enabled = captcha_pool.enabled()
    configure_default_client(
        settings.SCRAPING,
        pacer=pace_submission,
        token_source=captcha_pool.take_or_wait if enabled else None,
        give_back_token=captcha_pool.give_back if enabled else None,
        solver=solver,
    )


@worker_process_shutdown.connect
def close_browser(**kwargs):
    # The browser is launched lazily, after fork, by the first lookup of each pool process.
    close_default_client()


@worker_init.connect
def refuse_inconsistent_timing(**kwargs):
    """Run the checks a worker depends on, and refuse to start on errors. (Celery's own pass
    over every Django check, whose result it ignores, is skipped: project/celery.py.)"""
    errors = run_checks(tags=["celery"])
    if errors:
        # Celery logs and swallows exceptions from signal handlers: exit explicitly.
        raise SystemExit("Refusing to start:\n" + "\n".join(str(e) for e in errors))
