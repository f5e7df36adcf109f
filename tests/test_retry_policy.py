"""The verification task's retry timing, through Celery's own autoretry: exponential backoff with
full jitter, capped at SCRAPING_RETRY_BACKOFF_MAX; a site's Retry-After wins, under the same cap.

Only the countdown each retry asks for is captured (Celery's Task.retry is replaced); the task,
its autoretry wrapper and VerificationTask.retry run as they do in a worker."""

import pytest
from celery.exceptions import Retry
from django.conf import settings

from pipeline.tasks import verify_referral
from scraping.errors import NetworkError, RateLimitedError

SAMPLES = 40


@pytest.fixture
def countdowns(mocker):
    """Make every retry record its countdown instead of publishing it."""
    asked = []

    def record(self, args=None, kwargs=None, exc=None, throw=True, eta=None, countdown=None,
               max_retries=None, **options):  # fmt: skip
        asked.append(countdown)
        raise Retry(exc=exc, when=countdown)

    mocker.patch("celery.app.task.Task.retry", record)
    return asked


def countdowns_after(mocker, countdowns, exc, retries, runs=1):
    """The countdowns of `runs` runs that raise `exc` after `retries` earlier retries."""
    mocker.patch("pipeline.verification.verify_referral", side_effect=exc)
    for _ in range(runs):
        assert verify_referral.apply((1,), retries=retries).state == "RETRY"
    return countdowns[-runs:]


def test_retries_back_off_exponentially_with_full_jitter_up_to_the_cap(mocker, countdowns):
    cap = settings.SCRAPING_RETRY_BACKOFF_MAX
    assert verify_referral.retry_backoff_max == cap and verify_referral.retry_jitter
    for retries in range(9):
        ceiling = min(cap, verify_referral.retry_backoff * 2**retries)  # 5, 10, 20 ... 600
        waits = countdowns_after(mocker, countdowns, NetworkError("503"), retries, SAMPLES)
        assert all(0 <= w <= ceiling for w in waits), (retries, ceiling, waits)
        # Full jitter: spread over the whole window, so retries of many referrals do not come
        # back together. (The chance that 40 uniform draws all fall in the lower half: 2^-40.)
        assert len(set(waits)) > 1 and max(waits) > ceiling / 2, (retries, waits)
    assert ceiling == cap  # the last rounds hit the cap


def test_retry_after_wins_over_the_backoff_but_never_past_the_cap(mocker, countdowns):
    throttled = RateLimitedError("HTTP 429", retry_after=17)
    assert countdowns_after(mocker, countdowns, throttled, retries=0) == [17]  # backoff: ≤ 5
    assert countdowns_after(mocker, countdowns, throttled, retries=6) == [17]  # backoff: ≤ 320
    forever = RateLimitedError("HTTP 429", retry_after=86_400)
    cap = settings.SCRAPING_RETRY_BACKOFF_MAX
    assert countdowns_after(mocker, countdowns, forever, retries=0) == [cap]
