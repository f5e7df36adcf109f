"""Captcha tokens: where they come from (a token source, else a solver) and what they look like.

Solvers are chosen by `CAPTCHA_SOLVER`:
- `twocaptcha`: any 2captcha-compatible HTTP API (`in.php` / `res.php`);
- `checkbox`: tick the widget inside the page and wait for the token (works where the
  checkbox passes without a challenge — the simulator; rarely the real site);
- `none`: no solver; lookups then rely on an injected token source alone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from scraping import site
from scraping.config import ScrapingConfig
from scraping.errors import (
    CaptchaError,
    CaptchaSolverUnavailable,
    LookupCancelled,
    PageChangedError,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


# A token must have at least this many seconds of life left when handed to a lookup: it is
# injected and submitted within seconds, but a slow page must not carry it past its expiry.
SUBMIT_MARGIN = 10.0


@dataclass(frozen=True)
class SolvedToken:
    token: str
    solved_at: float = field(default_factory=time.time)  # epoch seconds
    cost: float | None = None  # USD, when the solver reported it
    floor: bool = False  # solved for the pool's warm floor (scraping.token_pool)

    def age(self, now: float | None = None) -> float:
        return (now if now is not None else time.time()) - self.solved_at

    def usable(self, ttl: float, now: float | None = None) -> bool:
        """Still worth submitting, for tokens that live `ttl` seconds from their solve."""
        return self.age(now) <= ttl - SUBMIT_MARGIN


class TokenSource(Protocol):
    """Hands out a ready token for (site_key, page_url), or None when it has none: the client
    asks it first and solves inline only when it answers None (e.g. a Redis pool). A source
    that waits (for a solve on its way) stops once `cancelled` is set and raises
    LookupCancelled: the lookup was given up, and its browser thread is wanted by the next."""

    def __call__(
        self, site_key: str, page_url: str, *, cancelled: threading.Event | None = None
    ) -> SolvedToken | None: ...


class CaptchaSolver(Protocol):
    name: str

    def solve(
        self,
        *,
        site_key: str,
        page_url: str,
        page: Page | None = None,
        cancelled: threading.Event | None = None,
    ) -> SolvedToken:
        """A fresh token, or CaptchaError (retry later) / CaptchaSolverUnavailable (give up).
        Once `cancelled` is set (the lookup was given up) it stops within a moment and raises
        LookupCancelled: a solve takes tens of seconds, and the worker's next lookup waits for
        the browser thread it runs on."""
        ...


# How often a solver that waits inside the page looks at `cancelled`.
CANCEL_CHECK_MS = 250


def _cancelled_during_solve() -> LookupCancelled:
    return LookupCancelled("the lookup was cancelled during its captcha solve")


# 2captcha answers that mean "this account cannot solve anything now" (a human must act).
_FATAL_ERRORS = frozenset(
    {
        "ERROR_WRONG_USER_KEY",
        "ERROR_KEY_DOES_NOT_EXIST",
        "ERROR_ZERO_BALANCE",
        "ERROR_IP_NOT_ALLOWED",
        "IP_BANNED",
        "ERROR_GOOGLEKEY",
        "ERROR_PAGEURL",
        "ERROR_BAD_PARAMETERS",
        "ERROR_WRONG_ACTION",
        "ERROR_ACCOUNT_SUSPENDED",
    }
)


class TwoCaptchaSolver:
    """Client for the 2captcha-compatible API: submit to in.php, poll res.php until a deadline."""

    name = "twocaptcha"

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 180.0,
        poll_interval: float = 5.0,
        http: httpx.Client | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.poll_interval = poll_interval
        self._http = http or httpx.Client(timeout=30)

    def solve(
        self,
        *,
        site_key: str,
        page_url: str,
        page: Page | None = None,
        cancelled: threading.Event | None = None,
    ) -> SolvedToken:
        if not self.api_key:
            raise CaptchaSolverUnavailable("CAPTCHA_API_KEY is not set")
        cancelled = cancelled or threading.Event()
        if cancelled.is_set():
            raise _cancelled_during_solve()  # an order costs money: none for a lookup given up
        deadline = time.monotonic() + self.timeout
        task_id = self._call(
            "in.php",
            {"method": "userrecaptcha", "googlekey": site_key, "pageurl": page_url},
        )["request"]
        while True:
            # Polling at once is pointless: solves take seconds at best. The pause ends early
            # when the lookup is cancelled: polling on to the end would hold the browser thread.
            if cancelled.wait(min(self.poll_interval, max(0.0, deadline - time.monotonic()))):
                raise _cancelled_during_solve()
            answer = self._call("res.php", {"action": "get", "id": task_id}, not_ready_ok=True)
            if answer.get("status") == 1:
                return SolvedToken(token=answer["request"], cost=_price(answer))
            if time.monotonic() >= deadline:
                raise CaptchaError(f"captcha solver did not answer within {self.timeout:.0f}s")

    def balance(self) -> float:
        return float(self._call("res.php", {"action": "getbalance"})["request"])

    def close(self) -> None:
        self._http.close()

    def _call(self, path: str, params: dict[str, str], *, not_ready_ok: bool = False) -> dict:
        query = {**params, "key": self.api_key, "json": "1"}
        try:
            response = self._http.get(f"{self.api_url}/{path}", params=query)
        except httpx.HTTPError as exc:
            raise CaptchaError(f"captcha solver unreachable: {exc.__class__.__name__}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise CaptchaError(f"captcha solver answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise CaptchaSolverUnavailable(f"captcha solver answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise CaptchaError("captcha solver answered something that is not JSON") from None
        if answer.get("status") == 1:
            return answer
        code = str(answer.get("request", ""))
        if not_ready_ok and code == "CAPCHA_NOT_READY":
            return answer
        if code in _FATAL_ERRORS:
            raise CaptchaSolverUnavailable(f"captcha solver refused: {code}")
        # ERROR_CAPTCHA_UNSOLVABLE, ERROR_NO_SLOT_AVAILABLE, …: worth another try later.
        raise CaptchaError(f"captcha solver failed: {code or answer}")


def _price(answer: dict[str, Any]) -> float | None:
    try:
        return float(answer["price"])
    except (KeyError, TypeError, ValueError):
        return None


class CheckboxSolver:
    """Tick the reCAPTCHA checkbox in the page and wait for the widget to fill the token."""

    name = "checkbox"

    def __init__(self, *, timeout: float = 60.0) -> None:
        self.timeout = timeout

    def solve(
        self,
        *,
        site_key: str,
        page_url: str,
        page: Page | None = None,
        cancelled: threading.Event | None = None,
    ) -> SolvedToken:
        from playwright.sync_api import Error as PlaywrightError

        if page is None:
            raise CaptchaSolverUnavailable("the checkbox solver needs the page")
        cancelled = cancelled or threading.Event()
        timeout_ms = self.timeout * 1000
        try:
            # Google renders the checkbox in an iframe; a page may also render it inline.
            if page.locator(site.RECAPTCHA_IFRAME).count():
                frame = page.frame_locator(site.RECAPTCHA_IFRAME).first
                frame.locator(site.RECAPTCHA_CHECKBOX).click(timeout=timeout_ms)
            else:
                page.locator(site.RECAPTCHA_CHECKBOX).click(timeout=timeout_ms)
            self._wait_for_token(page, cancelled)
            token = page.locator(site.RECAPTCHA_RESPONSE).input_value()
        except PlaywrightError as exc:
            if _is_timeout(exc):
                raise CaptchaError("checkbox did not yield a token (challenge shown?)") from exc
            raise PageChangedError(f"captcha checkbox not usable: {exc.message}") from exc
        return SolvedToken(token=token)

    def _wait_for_token(self, page: Page, cancelled: threading.Event) -> None:
        """Until the widget fills its response field; in short slices, to see `cancelled`."""
        from playwright.sync_api import Error as PlaywrightError

        deadline = time.monotonic() + self.timeout
        while True:
            slice_ms = max(1.0, min(CANCEL_CHECK_MS, (deadline - time.monotonic()) * 1000))
            try:
                page.wait_for_function(
                    "(sel) => { const t = document.querySelector(sel); return t && t.value; }",
                    arg=site.RECAPTCHA_RESPONSE,
                    timeout=slice_ms,
                )
                return
            except PlaywrightError as exc:
                if not _is_timeout(exc) or time.monotonic() >= deadline:
                    raise
            if cancelled.is_set():
                raise _cancelled_during_solve()


def _is_timeout(exc: Exception) -> bool:
    return "Timeout" in type(exc).__name__ or "imeout" in str(exc)


class NoSolver:
    name = "none"

    def solve(
        self,
        *,
        site_key: str,
        page_url: str,
        page: Page | None = None,
        cancelled: threading.Event | None = None,
    ) -> SolvedToken:
        raise CaptchaSolverUnavailable("CAPTCHA_SOLVER=none and no pre-solved token available")


def make_solver(config: ScrapingConfig) -> CaptchaSolver:
    if config.captcha_solver == "twocaptcha":
        return TwoCaptchaSolver(
            config.captcha_api_url,
            config.captcha_api_key,
            timeout=config.captcha_timeout,
            poll_interval=config.captcha_poll_interval,
        )
    if config.captcha_solver == "checkbox":
        return CheckboxSolver(timeout=config.captcha_timeout)
    return NoSolver()
