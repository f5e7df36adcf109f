"""Captcha tokens: where they come from (a token source, else a solver) and what they look like.

Solvers are chosen by `CAPTCHA_SOLVER`:
- `twocaptcha`: any 2captcha-compatible HTTP API (`in.php` / `res.php`);
- `checkbox`: tick the widget inside the page and wait for the token (works where the
  checkbox passes without a challenge — the simulator; rarely the real site);
- `none`: no solver; lookups then rely on an injected token source alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from scraping import site
from scraping.config import ScrapingConfig
from scraping.errors import CaptchaError, CaptchaSolverUnavailable, PageChangedError

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

    def age(self, now: float | None = None) -> float:
        return (now if now is not None else time.time()) - self.solved_at

    def usable(self, ttl: float, now: float | None = None) -> bool:
        """Still worth submitting, for tokens that live `ttl` seconds from their solve."""
        return self.age(now) <= ttl - SUBMIT_MARGIN


# A token source hands out a ready token for (site_key, page_url), or None when it has none.
# The client asks it first and solves inline only when it answers None (e.g. a Redis pool).
TokenSource = Callable[[str, str], SolvedToken | None]


class CaptchaSolver(Protocol):
    name: str

    def solve(self, *, site_key: str, page_url: str, page: Page | None = None) -> SolvedToken:
        """A fresh token, or CaptchaError (retry later) / CaptchaSolverUnavailable (give up)."""
        ...


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

    def solve(self, *, site_key: str, page_url: str, page: Page | None = None) -> SolvedToken:
        if not self.api_key:
            raise CaptchaSolverUnavailable("CAPTCHA_API_KEY is not set")
        deadline = time.monotonic() + self.timeout
        task_id = self._call(
            "in.php",
            {"method": "userrecaptcha", "googlekey": site_key, "pageurl": page_url},
        )["request"]
        while True:
            # Polling at once is pointless: solves take seconds at best.
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
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

    def solve(self, *, site_key: str, page_url: str, page: Page | None = None) -> SolvedToken:
        from playwright.sync_api import Error as PlaywrightError

        if page is None:
            raise CaptchaSolverUnavailable("the checkbox solver needs the page")
        timeout_ms = self.timeout * 1000
        try:
            # Google renders the checkbox in an iframe; a page may also render it inline.
            if page.locator(site.RECAPTCHA_IFRAME).count():
                frame = page.frame_locator(site.RECAPTCHA_IFRAME).first
                frame.locator(site.RECAPTCHA_CHECKBOX).click(timeout=timeout_ms)
            else:
                page.locator(site.RECAPTCHA_CHECKBOX).click(timeout=timeout_ms)
            page.wait_for_function(
                "(sel) => { const t = document.querySelector(sel); return t && t.value; }",
                arg=site.RECAPTCHA_RESPONSE,
                timeout=timeout_ms,
            )
            token = page.locator(site.RECAPTCHA_RESPONSE).input_value()
        except PlaywrightError as exc:
            if "Timeout" in type(exc).__name__ or "imeout" in str(exc):
                raise CaptchaError("checkbox did not yield a token (challenge shown?)") from exc
            raise PageChangedError(f"captcha checkbox not usable: {exc.message}") from exc
        return SolvedToken(token=token)


class NoSolver:
    name = "none"

    def solve(self, *, site_key: str, page_url: str, page: Page | None = None) -> SolvedToken:
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
