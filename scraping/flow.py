"""One lookup on one freshly opened page: load, pass the gate, fill, captcha, submit, parse.

Knows the page's steps, not the browser's lifecycle (that is `client.py`). Browser exceptions
that escape from here are mapped by the client; here we raise the taxonomy's classes for every
situation we can name.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scraping import site
from scraping.browser import Driver
from scraping.config import ScrapingConfig
from scraping.errors import (
    BotDetectedError,
    CaptchaError,
    CaptchaTokenRejected,
    NetworkError,
    PageChangedError,
    RateLimitedError,
    ScrapingError,
)
from scraping.parser import detect_block, parse_consulta, parse_rendered_result, parse_retry_after
from scraping.results import CensusResult

# A navigation replaced by another one (the challenge's reload), not a network failure.
ABORTED = "ERR_ABORTED"

# (site_key, page_url, page) → token text
TokenGetter = Callable[[str, str, Any], str]
POLL_MS = 25  # how often to look for the consulta's answer
WAIT_SLICE_MS = 250  # waits are cut in slices to look at failures in between


def raise_for_status(status: int, headers: dict[str, str], what: str) -> None:
    """HTTP status → taxonomy. 2xx/3xx pass (the body is judged separately)."""
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        raise RateLimitedError(f"{what}: HTTP 429", retry_after=retry_after)
    if status >= 500:
        raise NetworkError(f"{what}: HTTP {status}")
    if status == 403:
        raise BotDetectedError(f"{what}: HTTP 403")


@dataclass
class _Seen:
    status: int | None = None  # None while pending or when the request failed
    headers: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    response: Any = None


class NetworkWatcher:
    """Records what the page fetched: the documents, the elections list, the consulta.

    We listen to `response` *and* `requestfailed` instead of `page.expect_response`: a reset
    connection never produces a response, and expect_response would sit out its whole timeout.
    """

    def __init__(self, page: Any) -> None:
        self.documents_pending = 0
        self.document: _Seen | None = None
        self.elecciones: _Seen | None = None
        self.consulta: _Seen | None = None
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_failed)

    def _kind(self, request: Any) -> str | None:
        if request.resource_type == "document" and request.frame.parent_frame is None:
            return "document"
        if site.ELECTIONS_PATH in request.url:
            return "elecciones"
        if site.CONSULTA_PATH in request.url and request.method == "POST":
            return "consulta"
        return None

    def _on_request(self, request: Any) -> None:
        kind = self._kind(request)
        if kind == "document":
            self.documents_pending += 1
        if kind is not None:
            setattr(self, kind, _Seen())

    def _on_response(self, response: Any) -> None:
        kind = self._kind(response.request)
        if kind is None:
            return
        if kind == "document":
            self.documents_pending = max(0, self.documents_pending - 1)
        seen = _Seen(response.status, dict(response.headers), None, response)
        setattr(self, kind, seen)

    def _on_failed(self, request: Any) -> None:
        kind = self._kind(request)
        if kind is None:
            return
        if kind == "document":
            self.documents_pending = max(0, self.documents_pending - 1)
        setattr(self, kind, _Seen(failure=request.failure or "failed"))


class LookupFlow:
    def __init__(
        self,
        page: Any,
        cedula: str,
        *,
        config: ScrapingConfig,
        driver: Driver,
        get_token: TokenGetter,
        on_event: Callable[[str], None] = lambda name: None,
        before_submit: Callable[[], None] | None = None,
    ) -> None:
        self.page = page
        self.cedula = cedula
        self.config = config
        self.driver = driver
        self.get_token = get_token
        self.on_event = on_event
        self.before_submit = before_submit
        self._pacing_error: ScrapingError | None = None
        if before_submit is not None:
            # Pace the consulta request itself, as it leaves the browser: the gap the site sees.
            page.route(f"**{site.CONSULTA_PATH}*", self._paced_consulta)
        page.set_default_timeout(config.element_timeout * 1000)
        page.set_default_navigation_timeout(config.navigation_timeout * 1000)
        self.net = NetworkWatcher(page)

    def run(self) -> CensusResult:
        self.open_form()
        self.wait_for_elections()
        self.human_pause()
        self.type_cedula()
        site_key, callback = self.captcha_widget()
        last: CaptchaTokenRejected | None = None
        for _ in range(max(1, self.config.captcha_attempts)):
            token = self.get_token(site_key, self.page.url, self.page)
            self.inject_token(token, callback)
            try:
                return self.submit()
            except CaptchaTokenRejected as exc:
                # Stale, reused or refused token: take a fresh one and resubmit the same form.
                last = exc
                self.on_event("token_rejected")
                self.wait_for_widget_reset()
        raise CaptchaError(f"site rejected {self.config.captcha_attempts} captcha tokens: {last}")

    # --- steps ----------------------------------------------------------------------------
    def open_form(self) -> None:
        deadline = time.monotonic() + self.config.navigation_timeout
        response = None
        try:
            response = self.page.goto(self.config.url, wait_until="domcontentloaded")
        except self.driver.TimeoutError as exc:
            raise NetworkError("census page did not load in time") from exc
        except self.driver.Error as exc:
            # The F5 challenge may reload the page before the first load finishes: goto then
            # reports the first navigation aborted. Not a failure: wait for the form below.
            if ABORTED not in str(exc):
                raise NetworkError(f"census page failed to load: {_short(exc)}") from exc
        if response is not None:
            raise_for_status(response.status, response.headers, "census page")
        # The F5-like gate answers a script that sets a cookie and reloads: wait for the form.
        # wait_for_selector survives that navigation; short slices let us look at what came.
        while True:
            try:
                self.page.wait_for_selector(site.FORM, state="attached", timeout=WAIT_SLICE_MS)
                return
            except self.driver.TimeoutError:
                pass
            doc = self.net.document
            if doc is not None and doc.status is not None:
                raise_for_status(doc.status, doc.headers, "census page")
            if doc is not None and doc.failure and ABORTED not in doc.failure:
                raise NetworkError(f"census page failed to load: {doc.failure}")
            body = self._content()
            kind = detect_block(body)
            if kind == "rejected":
                raise BotDetectedError("F5 'request rejected' page")
            if body and kind is None and not self.net.documents_pending:
                # The real page is in and has no form: give it element_timeout, no more.
                deadline = min(deadline, time.monotonic() + self.config.element_timeout)
            if time.monotonic() >= deadline:
                break
        if self.net.documents_pending:
            raise NetworkError("census page did not load in time")
        # On a loaded machine the document's response event can land after the last slice:
        # an error status is a network error, not a changed page.
        doc = self.net.document
        if doc is not None and doc.status is not None:
            raise_for_status(doc.status, doc.headers, "census page")
        kind = detect_block(self._content())
        if kind is not None:
            raise BotDetectedError(f"bot protection not passed ({kind})")
        raise PageChangedError(f"census form {site.FORM} not found")

    def wait_for_elections(self) -> None:
        """The page fills #eleccion from the elections API; its failure is ours."""
        deadline = time.monotonic() + self.config.element_timeout
        while not self._elections_ready():
            seen = self.net.elecciones
            if seen is not None and seen.status is not None:
                raise_for_status(seen.status, seen.headers, "elections list")
                if seen.status >= 400:
                    raise PageChangedError(f"elections list: HTTP {seen.status}")
            if seen is not None and seen.failure:
                raise NetworkError(f"elections list failed: {seen.failure}")
            if time.monotonic() >= deadline:
                if not self.page.locator(site.ELECTION_SELECT).count():
                    raise PageChangedError(f"{site.ELECTION_SELECT} not found")
                if seen is not None and seen.response is not None:
                    self._raise_if_blocked_body(seen.response)
                raise NetworkError("elections list never loaded")

            self.page.wait_for_timeout(POLL_MS)

    def _elections_ready(self) -> bool:
        return bool(self.page.evaluate(site.ELECTION_READY_JS, site.ELECTION_SELECT))

    def human_pause(self) -> None:
        if self.config.human_pauses:
            low, high = self.config.human_pauses
            self.page.wait_for_timeout(random.uniform(low, high) * 1000)

    def type_cedula(self) -> None:
        field_ = self.page.locator(site.DOCUMENT_INPUT)
        if not field_.count():
            raise PageChangedError(f"{site.DOCUMENT_INPUT} not found")
        if not self.config.human_pauses:
            field_.fill(self.cedula)
            return
        field_.click()
        for digit in self.cedula:
            self.page.keyboard.type(digit)
            self.page.wait_for_timeout(random.uniform(70, 230))  # people do not type evenly

    def captcha_widget(self) -> tuple[str, str | None]:
        widget = self.page.locator(site.RECAPTCHA_WIDGET).first
        if not widget.count() or not self.page.locator(site.RECAPTCHA_RESPONSE).count():
            raise PageChangedError("reCAPTCHA widget or its response field not found")
        site_key = widget.get_attribute(site.RECAPTCHA_SITEKEY_ATTR) or ""
        if not site_key:
            raise PageChangedError("reCAPTCHA widget without a site key")
        return site_key, widget.get_attribute(site.RECAPTCHA_CALLBACK_ATTR)

    def wait_for_widget_reset(self) -> None:
        """After a refused token the page resets the widget (grecaptcha.reset()). Let it do so
        before injecting the next token, or the reset would wipe ours."""
        # A page that does not reset times out here: our token then simply replaces the old one.
        with contextlib.suppress(self.driver.TimeoutError):
            self.page.wait_for_function(
                "(sel) => !document.querySelector(sel).value",
                arg=site.RECAPTCHA_RESPONSE,
                timeout=1000,
                polling=25,
            )

    def inject_token(self, token: str, callback: str | None) -> None:
        """Put the token where Google's widget would, and tell the page as Google would."""
        self.page.evaluate(
            """([sel, token, cb]) => {
                 const area = document.querySelector(sel);
                 area.value = token; area.innerHTML = token;
                 if (cb && typeof window[cb] === 'function') { window[cb](token); }
               }""",
            [site.RECAPTCHA_RESPONSE, token, callback],
        )

    def _paced_consulta(self, route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        try:
            self.before_submit()
        except ScrapingError as exc:
            self._pacing_error = exc
            route.abort()
            return
        route.continue_()

    def submit(self) -> CensusResult:
        self.net.consulta = None
        self.page.locator(site.SUBMIT_BUTTON).click()
        deadline = time.monotonic() + self.config.api_timeout
        while self.net.consulta is None or (
            self.net.consulta.status is None and not self.net.consulta.failure
        ):
            if time.monotonic() >= deadline:
                raise NetworkError("census API did not answer in time")
            self.page.wait_for_timeout(POLL_MS)
        seen = self.net.consulta
        if self._pacing_error is not None:
            raise self._pacing_error
        if seen.failure:
            raise NetworkError(f"census API request failed: {seen.failure}")
        raise_for_status(seen.status, seen.headers, "census API")
        try:
            body = seen.response.text()
        except self.driver.Error:
            return self._rendered_result()
        kind = detect_block(body)
        if kind is not None:
            raise BotDetectedError(f"census API answered a bot-protection page ({kind})")
        if seen.status >= 400:
            raise PageChangedError(f"census API: HTTP {seen.status}")
        try:
            payload = json.loads(body)
        except ValueError:
            raise PageChangedError("census API answer is not JSON") from None
        return parse_consulta(payload, self.cedula)

    # --- helpers --------------------------------------------------------------------------
    def _rendered_result(self) -> CensusResult:
        """Fallback when the JSON body could not be read: the text the page rendered."""
        area = self.page.locator(site.RESULT_AREA)
        self.page.wait_for_timeout(500)  # let the page's script render the answer
        text = area.inner_text() if area.count() else ""
        return parse_rendered_result(text, self.cedula)

    def _raise_if_blocked_body(self, response: Any) -> None:
        try:
            body = response.text()
        except self.driver.Error:
            return
        kind = detect_block(body)
        if kind is not None:
            raise BotDetectedError(f"bot-protection page instead of JSON ({kind})")

    def _content(self) -> str:
        try:
            return self.page.content()
        except self.driver.Error:
            return ""  # navigating (the challenge's reload): look again on the next poll


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
