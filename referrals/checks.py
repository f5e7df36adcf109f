"""System checks: Celery-on-Redis timing must be consistent, or work runs twice.

Redis redelivers any message not acknowledged within `visibility_timeout`: a late-ack task still
running, or a retry/deferral waiting for its countdown. If that timeout were shorter than a time
limit or a countdown we use, the same referral would be scraped twice (the Celery form of the
original plan's "retry must exceed timeout" pitfall). The worker runs these checks at start-up
too (see signals.py), so a bad deployment does not start.
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
                    id="referrals.E001",
                )
            )
    if settings.SCRAPING_TASK_SOFT_TIME_LIMIT >= settings.SCRAPING_TASK_TIME_LIMIT:
        errors.append(
            Error(
                "The soft time limit must come before the hard one, or a hung page kills the "
                "worker process instead of being retried.",
                id="referrals.E002",
            )
        )
    if settings.CELERY_WORKER_PREFETCH_MULTIPLIER != 1:
        errors.append(
            Error(
                "Long scraping tasks need CELERY_WORKER_PREFETCH_MULTIPLIER = 1.",
                id="referrals.E003",
            )
        )
    return errors
