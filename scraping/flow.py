"""One lookup on one freshly opened page: load, pass the gate, fill, captcha, submit, parse.

Knows the page's steps, not the browser's lifecycle (that is `client.py`). Browser exceptions
that escape from here are mapped by the client; here we raise the taxonomy's classes for every
situation we can name.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
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
    LookupCancelled,
    NetworkError,
    PageChangedError,
    PageReloadNeeded,
    RateLimitedError,
    ScrapingError,
)
from scraping.parser import (
    detect_block,
    parse_census_table,
    parse_rendered_result,
    parse_retry_after,
)
from scraping.results import CensusResult
from scraping.sources import CONSULTACENSO, PageAdapter, adapter_for

logger = logging.getLogger(__name__)

# A navigation replaced by another one (the challenge's reload), not a network failure.
ABORTED = "ERR_ABORTED"

# (site_key, page_url, page) → token text
TokenGetter = Callable[[str, str, Any], str]
# token text → None: a token from the getter that never left the browser (see `run`)
TokenGiveBack = Callable[[str], None]
POLL_MS = 25  # how often to look for the consulta's answer
WAIT_SLICE_MS = 250  # waits are cut in slices to look at failures in between
# Page loads per lookup when the page says its session expired (wsp's `reload: true`).
RELOADS = 2
# Bytes of an answer body kept on an error (what the site said, for maintainers).
BODY_CAP = 20_000


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

    def __init__(self, page: Any, adapter: PageAdapter) -> None:
        self.adapter = adapter
        self.page = page
        self.documents_pending = 0
        self.documents_seen = 0  # main-frame navigations started (the page reloading itself)
        self.document: _Seen | None = None
        self.elecciones: _Seen | None = None
        self.consulta: _Seen | None = None
        self._listeners = (
            ("request", self._on_request),
            ("response", self._on_response),
            ("requestfailed", self._on_failed),
        )
        for event, listener in self._listeners:
            page.on(event, listener)

    def detach(self) -> None:
        """Stop listening: the page lives on for the next lookup, with a watcher of its own."""
        for event, listener in self._listeners:
            self.page.remove_listener(event, listener)

    def _kind(self, request: Any) -> str | None:
        if self.adapter.is_consulta(request.url, request.method, self.page.url):
            return "consulta"
        if request.resource_type == "document" and request.frame.parent_frame is None:
            return "document"
        if self.adapter.elections_path and self.adapter.elections_path in request.url:
            return "elecciones"
        return None

    def _on_request(self, request: Any) -> None:
        kind = self._kind(request)
        if kind == "document":
            self.documents_pending += 1
            self.documents_seen += 1
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
        give_back_token: TokenGiveBack = lambda token: None,
        on_event: Callable[[str], None] = lambda name: None,
        # Called as before_submit(cancelled=event) as the consulta leaves (the pacer); what it
        # returns, if anything, is called once that consulta is over (the slot's release).
        before_submit: Callable[..., Callable[[], None] | None] | None = None,
        cancelled: threading.Event | None = None,
        source: str = CONSULTACENSO,
    ) -> None:
        self.page = page
        self.adapter = adapter_for(source)
        self.url = config.url_for(source)
        # Set by another thread when the caller gave up: the flow stops at its next step and
        # never lets its consulta leave (checked again right before the request goes out).
        self.cancelled = cancelled or threading.Event()
        self.cedula = cedula
        self.config = config
        self.driver = driver
        self.get_token = get_token
        self.give_back_token = give_back_token
        self.on_event = on_event
        self.before_submit = before_submit
        self._pacing_error: ScrapingError | None = None
        self._consulta_sent = False  # the consulta (and its token) left the browser
        self._consulta_routed = False  # the page sent a consulta (it may wait for its slot)
        self._release_slot: Callable[[], None] | None = None
        if before_submit is not None:
            # Pace the consulta request itself, as it leaves the browser: the gap the site sees.
            page.route(self._is_consulta_url, self._paced_consulta)
        page.set_default_timeout(config.element_timeout * 1000)
        page.set_default_navigation_timeout(config.navigation_timeout * 1000)
        self.net = NetworkWatcher(page, self.adapter)
        # The last answer body the page got, size-capped (kept on errors for maintainers).
        self.last_body = ""

    def detach(self) -> None:
        """Take this lookup's listeners and pacing route off the page, which a session keeps
        for the next lookup (scraping.client). Raises the driver's Error when the page is gone."""
        self.net.detach()
        if self.before_submit is not None:
            self.page.unroute(self._is_consulta_url, self._paced_consulta)

    def _is_consulta_url(self, url: str) -> bool:
        # Method-blind here (a route matcher sees URLs): GETs pass in `_paced_consulta`.
        return self.adapter.is_consulta(url, "POST", self.url)

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise LookupCancelled("the lookup was cancelled before its consulta")

    def run(self) -> CensusResult:
        for load in range(RELOADS + 1):
            try:
                return self._run_once()
            except PageReloadNeeded as exc:
                # The page's session or nonce expired: a fresh load gets new ones.
                self.on_event("page_reloads")
                if load == RELOADS:
                    raise NetworkError(f"{exc}; still after {RELOADS} reloads") from exc
        raise AssertionError("unreachable")

    def _run_once(self) -> CensusResult:
        self.open_form()
        self.check_cancelled()
        self.wait_for_elections()
        self.human_pause()
        self.check_cancelled()
        self.type_cedula()
        site_key, callback = self.captcha_widget()
        last: CaptchaTokenRejected | None = None
        for _ in range(max(1, self.config.captcha_attempts)):
            self.check_cancelled()
            # The token comes first and the rate slot last, as the consulta leaves the browser
            # (`_paced_consulta`): the token must be in the form before the click, and a slot
            # taken before the token would be spent during an inline solve (20-45 s), so the
            # site would no longer see the polite gap between consultas. A slot missed (or a
            # cancel) thus leaves a token that was never submitted: it goes back to where it
            # came from (the pool) rather than being lost.
            token = self.get_token(site_key, self.page.url, self.page)
            self._consulta_sent = False
            try:
                self.check_cancelled()
                self.inject_token(token, callback)
                try:
                    return self.submit(token)
                finally:
                    self.consulta_over()
            except CaptchaTokenRejected as exc:
                # Stale, reused or refused token: take a fresh one and resubmit the same form.
                last = exc
                self.on_event("token_rejected")
                self.wait_for_widget_reset()
            except ScrapingError:
                if not self._consulta_sent:
                    self.give_back_token(token)
                raise
        raise CaptchaError(f"site rejected {self.config.captcha_attempts} captcha tokens: {last}")

    # --- steps ----------------------------------------------------------------------------
    def open_form(self) -> None:
        deadline = time.monotonic() + self.config.navigation_timeout
        response = None
        try:
            response = self.page.goto(self.url, wait_until="domcontentloaded")
        except self.driver.TimeoutError as exc:
            raise NetworkError("census page did not load in time") from exc
        except self.driver.Error as exc:
            # The F5 challenge may reload the page before the first load finishes: goto then
            # reports the first navigation aborted. Not a failure: wait for the form below.
            if ABORTED not in str(exc):
                raise NetworkError(f"census page failed to load: {_short(exc)}") from exc
        if response is not None:
            self._raise_for_answer(response.status, response.headers, None, "census page")
        # The F5-like gate answers a script that sets a cookie and reloads: wait for the form.
        # wait_for_selector survives that navigation; short slices let us look at what came.
        while True:
            try:
                self.page.wait_for_selector(
                    self.adapter.ready, state="attached", timeout=WAIT_SLICE_MS
                )
                return
            except self.driver.TimeoutError:
                pass
            self.check_cancelled()  # a page that takes its time must not hold a cancel up
            doc = self.net.document
            if doc is not None and doc.status is not None:
                self._raise_for_answer(doc.status, doc.headers, None, "census page")
            if doc is not None and doc.failure and ABORTED not in doc.failure:
                raise NetworkError(f"census page failed to load: {doc.failure}")
            body = self._content()
            self.last_body = body[:BODY_CAP]
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
        # When the event never came, the page itself knows the status it was served with.
        doc = self.net.document
        if doc is not None and doc.status is not None:
            status, headers = doc.status, doc.headers
        else:
            status, headers = self._navigation_status(), {}
        if status is not None:
            self._raise_for_answer(status, headers, None, "census page")
        body = self._content()
        self.last_body = body[:BODY_CAP]
        kind = detect_block(body)
        if kind is not None:
            raise BotDetectedError(f"bot protection not passed ({kind})")
        # A changed page needs positive evidence: the document answered 2xx and its body is in.
        # Anything less (no answer seen yet, an empty page mid-navigation) is a passing cause.
        if status is None or not body.strip():
            raise NetworkError("census page did not finish loading")
        raise PageChangedError(f"census form {self.adapter.ready} not found")

    def _navigation_status(self) -> int | None:
        """The HTTP status of the document on screen (Navigation Timing), None if unknown."""
        try:
            status = self.page.evaluate(
                "() => performance.getEntriesByType('navigation')[0]?.responseStatus || 0"
            )
        except self.driver.Error:
            return None
        return status or None

    def wait_for_elections(self) -> None:
        """The page fills #eleccion from the elections API; its failure is ours. A page whose
        select is served filled (wsp) gets the current voting place picked."""
        if self.adapter.election_value is not None:
            select = self.page.locator(self.adapter.election_select)
            if not select.count():
                raise PageChangedError(f"{self.adapter.election_select} not found")
            try:
                select.select_option(self.adapter.election_value, timeout=WAIT_SLICE_MS * 4)
            except self.driver.TimeoutError:
                raise PageChangedError(
                    f"{self.adapter.election_select} has no option {self.adapter.election_value}"
                ) from None
            return
        deadline = time.monotonic() + self.config.element_timeout
        while not self._elections_ready():
            seen = self.net.elecciones
            if seen is not None and seen.status is not None:
                self._raise_for_answer(seen.status, seen.headers, seen.response, "elections list")
                if seen.status >= 400:
                    raise PageChangedError(f"elections list: HTTP {seen.status}")
            if seen is not None and seen.failure:
                raise NetworkError(f"elections list failed: {seen.failure}")
            if time.monotonic() >= deadline:
                if not self.page.locator(self.adapter.election_select).count():
                    raise PageChangedError(f"{self.adapter.election_select} not found")
                if seen is not None and seen.response is not None:
                    self._raise_if_blocked_body(seen.response)
                raise NetworkError("elections list never loaded")
            self.check_cancelled()
            self.page.wait_for_timeout(POLL_MS)

    def _elections_ready(self) -> bool:
        return bool(self.page.evaluate(site.ELECTION_READY_JS, self.adapter.election_select))

    def human_pause(self) -> None:
        if self.config.human_pauses:
            low, high = self.config.human_pauses
            self.page.wait_for_timeout(random.uniform(low, high) * 1000)

    def type_cedula(self) -> None:
        field_ = self.page.locator(self.adapter.document_input)
        if not field_.count():
            raise PageChangedError(f"{self.adapter.document_input} not found")
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
        self._consulta_routed = True
        try:
            self.check_cancelled()
            # The slot wait (up to SCRAPING_SLOT_MAX_WAIT) ends early on a cancel too.
            self._release_slot = self.before_submit(cancelled=self.cancelled)
            self.check_cancelled()  # the pacer may have waited for a slot
        except ScrapingError as exc:
            self._pacing_error = exc
            self.consulta_over()  # a slot taken for a consulta that will not leave
            route.abort()  # the request never leaves the browser: nor does its token
            return
        self._consulta_sent = True
        route.continue_()

    def consulta_over(self) -> None:
        """The consulta is answered, failed, or will not leave: the rate slot it held frees
        one interval from now (scraping.ratelimit)."""
        release, self._release_slot = self._release_slot, None
        if release is not None:
            try:
                release()
            except Exception:  # Redis away: the slot's hold runs out by itself
                logger.warning("could not release the rate slot", exc_info=True)

    def submit_control(self) -> Any | None:
        """The control that sends the consulta: the first visible, enabled one of the page's
        candidates, whatever its type, tag or place; None when the page has none."""
        for selector in self.adapter.submit_controls:
            candidates = self.page.locator(selector)
            for i in range(candidates.count()):
                control = candidates.nth(i)
                with contextlib.suppress(self.driver.Error):
                    if control.is_visible() and control.is_enabled():
                        return control
        return None

    def send_consulta(self, token: str) -> None:
        """Click the page's submit control; without one, send the page's own request from
        inside the page (its cookies ride along), as one public client does."""
        control = self.submit_control()
        if control is not None:
            control.click()
            self.on_event("submit_clicked")
            return
        self.page.evaluate(self.adapter.fetch_js, [*self.adapter.fetch_args, token])
        self.on_event("submit_from_page")

    def submit(self, token: str = "") -> CensusResult:
        self.net.consulta = None
        self._consulta_routed = False
        if self.before_submit is None:
            self._consulta_sent = True  # no pacing route: the click sends it
        documents_before = self.net.documents_seen
        self.send_consulta(token)
        deadline = time.monotonic() + self.config.api_timeout
        # A click that sends nothing (a control that is not the submit) is a changed page,
        # not a slow site: the request starts at once even when the site is slow to answer.
        sent_by = time.monotonic() + self.config.element_timeout
        while self.net.consulta is None or (
            self.net.consulta.status is None and not self.net.consulta.failure
        ):
            sent = self.net.consulta is not None or self._consulta_routed
            if not sent and time.monotonic() >= sent_by:
                raise PageChangedError("submitting the form sent no consulta")
            if time.monotonic() >= deadline:
                raise NetworkError("census API did not answer in time")
            if self.cancelled.is_set() and self._pacing_error is None:
                # Nobody waits for this answer any more, and the next lookup waits for the
                # browser thread: stop (a consulta not yet routed is then aborted with the page).
                if self._consulta_sent:
                    raise LookupCancelled("the lookup was cancelled while its consulta was out")
                self.check_cancelled()
            self.page.wait_for_timeout(POLL_MS)
        seen = self.net.consulta
        if self._pacing_error is not None:
            raise self._pacing_error
        if seen.failure:
            raise NetworkError(f"census API request failed: {seen.failure}")
        self._raise_for_answer(seen.status, seen.headers, seen.response, "census API")
        try:
            body = seen.response.text()
        except self.driver.Error:
            # The answer's body went with a navigation: the page reloaded itself on its answer
            # (wsp's `reload: true`), so its session is new: start again from the load.
            if self._page_reloaded_since(documents_before):
                raise PageReloadNeeded("the page reloaded itself on the answer") from None
            return self._rendered_result()
        self.last_body = body[:BODY_CAP]
        kind = detect_block(body)
        if kind is not None:
            raise BotDetectedError(f"census API answered a bot-protection page ({kind})")
        if seen.status >= 400:
            raise PageChangedError(f"census API: HTTP {seen.status}")
        try:
            return self.adapter.parse(body, self.cedula)
        except PageChangedError:
            # The January 2026 shape: an answer the page renders as a table. Read what the
            # page shows before calling the page changed.
            if _is_json(body):
                raise
            return self._rendered_result()

    # --- the drift canary: look, never submit -------------------------------------------------
    def inspect(self) -> dict[str, Any]:
        """Load the page and check what a lookup relies on, without typing, asking for a
        captcha token or submitting: the form and its fields, the captcha widget and its site
        key, the elections list, the submit control. Raises the taxonomy's error when the page
        cannot be loaded at all; otherwise returns {"problems": [...], "site_key", "submit",
        "html"}: no problems means no drift."""
        self.open_form()
        problems: list[str] = []
        try:
            self.wait_for_elections()
        except PageChangedError as exc:
            problems.append(str(exc))
        if not self.page.locator(self.adapter.document_input).count():
            problems.append(f"{self.adapter.document_input} not found")
        for hidden in self.adapter.hidden_fields:
            field_ = self.page.locator(hidden)
            if not field_.count() or not (field_.first.get_attribute("value") or ""):
                problems.append(f"{hidden} missing or empty")
        site_key = ""
        try:
            site_key, _ = self.captcha_widget()
        except PageChangedError as exc:
            problems.append(str(exc))
        submit = "control" if self.submit_control() is not None else "page request"
        return {
            "problems": problems,
            "site_key": site_key,
            "submit": submit,
            "html": self._content()[:BODY_CAP],
        }

    # --- helpers --------------------------------------------------------------------------
    def _rendered_result(self) -> CensusResult:
        """Fallback when the answer body could not be read: the table the page rendered
        (the January 2026 shape), else the text of its result area."""
        self.page.wait_for_timeout(500)  # let the page's script render the answer
        table = self.page.locator(site.RESULT_TABLE)
        if table.count():
            return parse_census_table(table.first.evaluate("t => t.outerHTML"), self.cedula)
        area = self.page.locator(site.RESULT_AREA)
        text = area.inner_text() if area.count() else ""
        return parse_rendered_result(text, self.cedula)

    def _page_reloaded_since(self, documents_before: int) -> bool:
        until = time.monotonic() + 1.0
        while self.net.documents_seen == documents_before and time.monotonic() < until:
            self.page.wait_for_timeout(POLL_MS)
        return self.net.documents_seen > documents_before

    def _raise_for_answer(
        self, status: int, headers: dict[str, str], response: Any, what: str
    ) -> None:
        """HTTP status → taxonomy, with the body of an error answer judged first: F5's block
        page comes with 200, 403 or 500 (an ASM page, "se presentó un evento de seguridad",
        seen on the live site), and a block must pause the source, not be retried as a server
        error. Only that page settles it: an error page asking for JavaScript or running the
        challenge is left to the status (a 503 stays retryable, a 429 keeps its Retry-After).
        `response` None means the document on screen, which is read from the page, never by
        waiting for a body that may stall."""
        if status >= 400:
            body = self._content() if response is None else self._text_of(response)
            if detect_block(body) == "rejected":
                self.last_body = body[:BODY_CAP]
                raise BotDetectedError(f"{what}: HTTP {status}, bot-protection page (rejected)")
        raise_for_status(status, headers, what)

    def _text_of(self, response: Any) -> str:
        try:
            return response.text()
        except self.driver.Error:
            return ""  # gone with a navigation, or no body: the status alone then

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


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.splitlines()[0][:200] if text else exc.__class__.__name__
