"""The one error taxonomy of the scraping package.

Every failure of a lookup surfaces as exactly one of these classes, so callers (the Celery task)
decide retry-or-give-up from the class alone. Census answers such as "not in the census" are
results, never errors.
"""

from __future__ import annotations


class ScrapingError(Exception):
    """Base class: something stopped us from getting an answer from the census page."""

    # The body the page or its API answered last, size-capped, when there was one: kept with
    # the attempt so a maintainer can see what the site said.
    body: str = ""


# --- Retryable: the same lookup may well succeed later. ---------------------------------------


class NetworkError(ScrapingError):
    """Timeouts, connection resets, 5xx answers, a browser that died mid-lookup."""


class LookupCancelled(NetworkError):
    """The caller gave up on the lookup (a soft time limit): it stopped before its consulta, or
    stopped waiting for the answer of one that had left before the cancel."""


class PageReloadNeeded(NetworkError):
    """The page's session or anti-replay token expired (wsp's `reload: true`): the client loads
    the page again, a bounded number of times; escaping the client it is a passing failure."""


class RateLimitedError(ScrapingError):
    """The site throttled us (HTTP 429 or a throttling text); honour `retry_after` when given."""

    def __init__(self, message: str = "rate limited", retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CaptchaError(ScrapingError):
    """The captcha could not be passed this time: solver timeout, or tokens rejected repeatedly."""


class CaptchaTokenRejected(CaptchaError):
    """The site refused one token (bad, reused or expired). The client renews and resubmits;
    it only escapes `lookup` if the client is used outside its retry loop."""


# --- Not retryable: retrying as-is will not help; a human has to look. ------------------------


class BotDetectedError(ScrapingError):
    """The site identified us as a bot: 403/"request rejected" page (even with HTTP 200),
    a JavaScript-required page, or an F5 challenge we did not pass."""


class CaptchaSolverUnavailable(ScrapingError):
    """No captcha solver can work: missing key, zero balance, the service refuses us."""


class PageChangedError(ScrapingError):
    """Selectors or the JSON shape no longer match what `scraping.site` expects."""


class RequestRefusedError(ScrapingError):
    """The census API answered `ok: false` with a reason that is neither captcha nor throttling
    (e.g. a document it will not look up). Retrying the same request gets the same answer."""


RETRYABLE_ERRORS: tuple[type[ScrapingError], ...] = (NetworkError, RateLimitedError, CaptchaError)
