"""System checks: Celery-on-Redis timing must be consistent, or work runs twice.

Redis redelivers any message not acknowledged within `visibility_timeout`: a late-ack task still
running, or a retry/deferral waiting for its countdown. If that timeout were shorter than a time
limit or a countdown we use, the same referral would be scraped twice (the Celery form of the
original plan's "retry must exceed timeout" pitfall). The worker runs these checks at start-up
too (see pipeline/signals.py), so a bad deployment does not start.
"""

from django.conf import settings
from django.core.checks import Error, register


def margin(seconds: float) -> float:
    """Head-room between one of our waits and the visibility timeout."""
    return max(10.0, 0.25 * seconds)


def longest_wait() -> dict[str, float]:
    return {
        "SCRAPING_TASK_TIME_LIMIT": settings.SCRAPING_TASK_TIME_LIMIT,
        "SCRAPING_CLAIM_LEASE": settings.SCRAPING_CLAIM_LEASE,
        "SCRAPING_RETRY_BACKOFF_MAX": settings.SCRAPING_RETRY_BACKOFF_MAX,
        "CIRCUIT_COOLDOWN (deferral)": settings.CIRCUIT_COOLDOWN + 5,
    }


@register("celery")
def check_celery_timing(app_configs=None, **kwargs):
    errors = []
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    for name, seconds in longest_wait().items():
        if seconds + margin(seconds) > visibility:
            errors.append(
                Error(
                    f"{name} ({seconds:g}s) is too close to the Redis visibility_timeout "
                    f"({visibility}s): Redis would deliver the message again while it is still "
                    "running or waiting, and the referral would be scraped twice.",
                    hint=f"Raise CELERY_VISIBILITY_TIMEOUT above {seconds + margin(seconds):g} or "
                    f"lower {name}.",
                    id="pipeline.E001",
                )
            )
    if settings.SCRAPING_TASK_SOFT_TIME_LIMIT >= settings.SCRAPING_TASK_TIME_LIMIT:
        errors.append(
            Error(
                "The soft time limit must come before the hard one, or a hung page kills the "
                "worker process instead of being retried.",
                id="pipeline.E002",
            )
        )
    if settings.WORKER_DEAD_AFTER < 3 * settings.WORKER_HEARTBEAT_EVERY:
        errors.append(
            Error(
                f"WORKER_DEAD_AFTER ({settings.WORKER_DEAD_AFTER:g}s) must be at least three "
                f"heartbeats (WORKER_HEARTBEAT_EVERY {settings.WORKER_HEARTBEAT_EVERY:g}s): a "
                "live worker whose heartbeat is a little late would have its messages given "
                "back to the queue and run a second time.",
                id="pipeline.E004",
            )
        )
    if settings.SCRAPING_RUN_LOCK_LEASE < 6:
        errors.append(
            Error(
                "SCRAPING_RUN_LOCK_LEASE must be at least 6 s: it is renewed every third of "
                "itself, and a renewal delayed by a busy machine would free a live run's referral.",
                id="pipeline.E005",
            )
        )
    if settings.CELERY_WORKER_PREFETCH_MULTIPLIER != 1:
        errors.append(
            Error(
                "Long scraping tasks need CELERY_WORKER_PREFETCH_MULTIPLIER = 1.",
                id="pipeline.E003",
            )
        )
    return errors
