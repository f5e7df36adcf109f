"""CensusClient: one browser per process, one session (context and page) kept for a few dozen
lookups, errors from the taxonomy.

Playwright's sync API is bound to the thread that started it: use a client from one thread.
The Celery worker calls `lookup_cedula()` (the process-wide default client, created lazily —
so the browser starts after the fork) and `close_default_client()` at shutdown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import psutil

from scraping import browser as browser_mod
from scraping.captcha import CaptchaSolver, SolvedToken, TokenSource, make_solver
from scraping.cedula import normalize_cedula
from scraping.config import ScrapingConfig
from scraping.errors import (
    BotDetectedError,
    LookupCancelled,
    NetworkError,
    PageChangedError,
    ScrapingError,
)
from scraping.flow import LookupFlow, _short
from scraping.results import CensusResult, SourceProbe

log = logging.getLogger(__name__)

# How many times to ask the token source before solving inline (it may hand out stale ones).
TOKEN_SOURCE_TRIES = 3
# Lookups between two looks at the browser's memory: reading its PSS (smaps of each Chromium
# process) takes 20 ms, a tenth of a lookup, and memory grows by a few MB per lookup at most.
MEMORY_CHECK_EVERY = 5


@dataclasses.dataclass
class BrowserSession:
    """A browser context and its one page, kept from one lookup to the next.

    Why: a new context and page cost a new renderer process, which is most of a lookup's CPU
    (0.98 CPU-s per lookup with a fresh context each time, 0.27 with the page kept: the
    scraper benchmark). A person consulting twice also stays in one tab, keeping the site's
    cookies, so the F5 challenge is passed once per session rather than once per lookup. Each
    lookup still loads the page afresh. A session ends after `ScrapingConfig.session_lookups`
    lookups (its renderer's memory grows a little with every page load), after any failed
    lookup (whatever the page was left holding goes with it), and with its browser."""

    context: Any
    page: Any
    lookups: int = 0


class CensusClient:
    """Looks cédulas up on the census page with a real, stealthy Chromium.

    `token_source(site_key, page_url, cancelled=event) -> SolvedToken | None` is asked for a
    pre-solved token first (e.g. a Redis pool); when it has none, `solver` (default: from
    CAPTCHA_SOLVER) solves; `give_back_token(site_key, token)` gets back the source's tokens
    that were never submitted. `pacer(cancelled=event, source=name)` is called right before
    each consulta (the source's own polite rate);
    what it returns, if anything, is called when that consulta is over (a rate slot's release).
    The source, the solver and the pacer get the lookup's cancel event: what they wait for
    must not outlive a cancel.
    """

    def __init__(
        self,
        config: ScrapingConfig | None = None,
        *,
        token_source: TokenSource | None = None,
        solver: CaptchaSolver | None = None,
        pacer: Callable[..., Callable[[], None] | None] | None = None,
        give_back_token: Callable[[str, SolvedToken], None] | None = None,
    ) -> None:
        self.config = config or ScrapingConfig.from_env()
        self.token_source = token_source
        # Takes back (site_key, token) a token from `token_source` whose consulta never left the
        # browser (no rate slot in time, or a cancel): unused, it is as good as new.
        self.give_back_token = give_back_token
        # Called right before each consulta is submitted; blocks until the polite moment (or
        # raises a ScrapingError). The gap the site sees is between submissions, not page loads.
        self.pacer = pacer
        self.solver = solver or make_solver(self.config)
        self.driver = browser_mod.load_driver(self.config.driver)
        self.stats: Counter[str] = Counter()  # for ops: see `counters()`
        self._playwright: Any = None
        self._browser: Any = None
        self._browser_pid: int | None = None
        self._user_agent = ""
        self._viewport = random.choice(browser_mod.VIEWPORTS)  # one per client: a stable look
        self._lookups_since_launch = 0
        self._session: BrowserSession | None = None
        self._thread: int | None = None
        self._stealth = self._make_stealth() if self.driver.name == "playwright" else None

    # --- public API ---------------------------------------------------------------------
    def lookup(
        self, cedula: str, cancelled: threading.Event | None = None, source: str | None = None
    ) -> CensusResult:
        """The census state of `cedula` from census page `source` (default: the first of
        `config.sources`); the result names the source. Raises ValueError for input that is
        not a cédula and a `ScrapingError` subclass for every failure to get an answer.
        Setting `cancelled` (from another thread) stops the lookup at its next step, or within
        a moment while it waits (a captcha solve, a pool token, a rate slot, an answer):
        LookupCancelled, and no consulta leaves after the cancel."""
        digits = normalize_cedula(cedula)
        cancelled = cancelled or threading.Event()
        source = source or self.config.sources[0]
        self._check_thread()
        self.stats["lookups"] += 1
        try:
            result = self._lookup_in_session(digits, cancelled, source)
        except ScrapingError as exc:
            self.stats["failures"] += 1
            self.stats[f"error_{type(exc).__name__}"] += 1
            raise
        finally:
            self._after_lookup()
        self.stats[f"status_{result.status.value}"] += 1
        return dataclasses.replace(result, source=source)

    def probe(self, source: str) -> SourceProbe:
        """The drift canary's look at census page `source`: load it and check what a lookup
        relies on, in a fresh context, without typing, asking for a captcha token or
        submitting (no consulta, no solve)."""
        self._check_thread()
        context = None
        url = self.config.url_for(source)
        try:
            context = self._new_context()
            page = context.new_page()
            flow = LookupFlow(
                page,
                "",
                config=self.config,
                driver=self.driver,
                get_token=_no_token,
                source=source,
            )
            try:
                seen = flow.inspect()
            except PageChangedError as exc:
                return SourceProbe(source, url, "changed", [str(exc)], html=flow.last_body)
        except BotDetectedError as exc:
            return SourceProbe(source, url, "blocked", [str(exc)])
        except (ScrapingError, self.driver.Error) as exc:
            return SourceProbe(source, url, "unreachable", [_short(exc)])
        finally:
            if context is not None:
                with contextlib.suppress(self.driver.Error):
                    context.close()
        problems = seen["problems"]
        return SourceProbe(
            source,
            url,
            "changed" if problems else "ok",
            problems,
            site_key=seen["site_key"],
            submit=seen["submit"],
            html=seen["html"] if problems else "",
        )

    def end_session(self) -> None:
        """End the kept session (context, page, the site's cookies): the next lookup starts a
        new one, as a fresh visitor."""
        self._check_thread()
        self._end_session()

    def forget_the_site(self) -> None:
        """Drop the site's cookies from the kept session, keeping its page: the next lookup
        meets the site as a new visitor (the F5 challenge again) without the cost of a new
        renderer (0.7 CPU-s). The tests start each lookup test this way; `end_session` is the
        whole reset."""
        self._check_thread()
        if self._session is None:
            return
        try:
            self._session.context.clear_cookies()
        except self.driver.Error:  # its browser is gone: the next lookup starts afresh anyway
            self._end_session()

    def close(self) -> None:
        """Close the browser and release the driver. Safe to call twice."""
        self._close_browser()
        if self._playwright is not None:
            self._playwright = None
            browser_mod.release_playwright(self.driver)
        close_solver = getattr(self.solver, "close", None)
        if close_solver is not None:
            close_solver()

    def counters(self) -> dict[str, int]:
        """Lookups, failures by class, statuses, browser launches/relaunches/crashes, captcha
        solves and their cost (micro-USD), tokens from the source, token rejections."""
        return dict(self.stats)

    def browser_rss_bytes(self) -> int:
        """RSS of the browser process tree (0 when no browser is running)."""
        return browser_mod.tree_rss(self._browser_pid)

    def browser_pss_bytes(self) -> int:
        """PSS of the browser process tree: what it really costs the machine (0 without one)."""
        return browser_mod.tree_pss(self._browser_pid)

    def open_contexts(self) -> int:
        """Browser contexts currently open: between lookups at most the kept session's one
        (more, or one after a failed lookup, means something leaks)."""
        return len(self._browser.contexts) if self._browser is not None else 0

    @property
    def browser_pid(self) -> int | None:
        return self._browser_pid

    def __enter__(self) -> CensusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- one lookup ---------------------------------------------------------------------
    def _lookup_in_session(
        self, cedula: str, cancelled: threading.Event, source: str
    ) -> CensusResult:
        errors = self.driver
        flow = None
        keep_session = False
        from_source: dict[str, tuple[str, SolvedToken]] = {}  # this lookup's tokens from the source
        try:
            page = self._session_page()
            flow = LookupFlow(
                page,
                cedula,
                config=self.config,
                driver=self.driver,
                # The token getter sees the cancel too: a solve (up to CAPTCHA_TIMEOUT) or a
                # wait for a pool token must not hold the browser thread once given up.
                get_token=functools.partial(
                    self._token_for, cancelled=cancelled, from_source=from_source
                ),
                give_back_token=functools.partial(self._give_back, from_source),
                on_event=self._count,
                before_submit=(
                    functools.partial(self.pacer, source=source) if self.pacer else None
                ),
                cancelled=cancelled,
                source=source,
            )
            result = flow.run()
            keep_session = self._detached(flow)
            return result
        except ScrapingError as exc:
            if flow is not None and not exc.body:
                exc.body = flow.last_body  # what the site said, for maintainers
            raise
        except errors.TimeoutError as exc:
            raise NetworkError(f"browser timed out: {_short(exc)}") from exc
        except errors.Error as exc:
            if not self._browser_alive():
                self.stats["browser_crashes"] += 1
                self._forget_browser()
                raise NetworkError("browser crashed during the lookup") from exc
            raise NetworkError(f"browser error: {_short(exc)}") from exc
        finally:
            if not keep_session:
                self._end_session()

    def _detached(self, flow: LookupFlow) -> bool:
        """Take the finished lookup off its page, which the next lookup then watches and paces
        for itself. A page that cannot be detached (it died just now) is not kept, and the
        answer already in hand stands."""
        try:
            flow.detach()
        except self.driver.Error:
            return False
        return True

    def _session_page(self) -> Any:
        """The page of the kept session; a new session when there is none, when it has served
        its lookups, or when its page or browser died since the last lookup."""
        session = self._session
        if session is not None and (
            session.lookups >= max(1, self.config.session_lookups)
            or not self._browser_alive()
            or not self._page_alive(session.page)
        ):
            self._end_session()
            session = None
        if session is None:
            context = self._new_context()
            try:
                page = context.new_page()
            except self.driver.Error:
                with contextlib.suppress(self.driver.Error):
                    context.close()
                raise
            session = self._session = BrowserSession(context, page)
            self.stats["sessions"] += 1
        session.lookups += 1
        return session.page

    def _page_alive(self, page: Any) -> bool:
        """Whether the page can still run a lookup: a closed page says so, but one whose
        renderer crashed (an OOM kill) only answers the next call it gets."""
        if page.is_closed():
            return False
        try:
            page.evaluate("0")
        except self.driver.Error:
            return False
        return True

    def _end_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(self.driver.Error):
                session.context.close()  # its page, requests and responses go with it

    def _new_context(self) -> Any:
        """A new context on a live browser; a browser that died since the last lookup is
        replaced here, so one crash costs nothing but a relaunch."""
        for attempt in (1, 2):
            browser = self._ensure_browser()
            try:
                context = browser.new_context(
                    user_agent=self._user_agent,
                    locale="es-CO",
                    timezone_id="America/Bogota",
                    viewport=self._viewport,
                    extra_http_headers={"Accept-Language": "es-CO,es;q=0.9"},
                )
            except self.driver.Error:
                if attempt == 2:
                    raise
                self.stats["browser_crashes"] += 1
                self._forget_browser()
                continue
            if self._stealth is not None:
                self._stealth.apply_stealth_sync(context)
            return context
        raise AssertionError("unreachable")

    def _token_for(
        self,
        site_key: str,
        page_url: str,
        page: Any,
        *,
        cancelled: threading.Event,
        from_source: dict[str, tuple[str, SolvedToken]],
    ) -> str:
        if self.token_source is not None:
            for _ in range(TOKEN_SOURCE_TRIES):
                try:
                    ready = self.token_source(site_key, page_url, cancelled=cancelled)
                except LookupCancelled:
                    raise
                except Exception:
                    # The pool is an optimisation: its trouble must not fail the lookup.
                    log.warning("captcha token source failed; solving inline", exc_info=True)
                    break
                if ready is None:
                    break
                if isinstance(ready, str):
                    ready = SolvedToken(ready)
                if ready.usable(self.config.captcha_token_ttl):
                    self.stats["tokens_from_source"] += 1
                    from_source[ready.token] = (site_key, ready)
                    return ready.token
                self.stats["tokens_stale_skipped"] += 1
        if cancelled.is_set():  # e.g. while the source waited for a pool solve
            raise LookupCancelled("the lookup was cancelled before its captcha solve")
        solved = self.solver.solve(
            site_key=site_key, page_url=page_url, page=page, cancelled=cancelled
        )
        self.stats["captcha_solves"] += 1
        if solved.cost is not None:
            self.stats["captcha_cost_micro_usd"] += round(solved.cost * 1_000_000)
        return solved.token

    def _give_back(self, from_source: dict[str, tuple[str, SolvedToken]], token: str) -> None:
        """A token whose consulta never left the browser. One from the source goes back to it;
        one solved inline does not: a pool may not be there to take it, and its spend is
        counted as inline."""
        taken = from_source.pop(token, None)
        if taken is None or self.give_back_token is None:
            return
        try:
            self.give_back_token(*taken)
        except Exception:  # the pool is an optimisation: its trouble must not hide the error
            log.warning("could not give an unused captcha token back", exc_info=True)
            return
        self.stats["tokens_given_back"] += 1

    def _count(self, event: str) -> None:
        self.stats[event] += 1

    # --- browser lifecycle ----------------------------------------------------------------
    def _check_thread(self) -> None:
        current = threading.get_ident()
        if self._thread is None:
            self._thread = current
        elif self._thread != current:
            raise RuntimeError("CensusClient is bound to the thread that first used it")

    def _ensure_browser(self) -> Any:
        if self._browser is not None and self._browser_alive():
            return self._browser
        if self._browser is not None:
            self.stats["browser_crashes"] += 1
            self._forget_browser()
        if self._playwright is None:
            self._playwright = browser_mod.acquire_playwright(self.driver)
        before = browser_mod.chromium_pids()
        options = browser_mod.launch_options(self._playwright, self.config)
        try:
            self._browser = self._playwright.chromium.launch(**options)
        except self.driver.Error:
            # The driver itself may be dead (killed with the browser): start a new one.
            browser_mod.release_playwright(self.driver, force=True)
            self._playwright = browser_mod.acquire_playwright(self.driver)
            self._browser = self._playwright.chromium.launch(**options)
        new = browser_mod.chromium_pids() - before
        self._browser_pid = min(new) if new else None
        self._user_agent = browser_mod.user_agent_for(self._browser.version)
        self._stealth = self._make_stealth() if self.driver.name == "playwright" else None
        self._lookups_since_launch = 0
        self.stats["browser_launches"] += 1
        log.info("browser launched (pid %s, %s)", self._browser_pid, self._browser.version)
        return self._browser

    def _browser_alive(self) -> bool:
        if self._browser is None or not self._browser.is_connected():
            return False
        # Killed from outside: Playwright may not have noticed the disconnect yet.
        if self._browser_pid is None:
            return True
        try:
            return psutil.Process(self._browser_pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def _after_lookup(self) -> None:
        self._lookups_since_launch += 1
        cfg = self.config
        if self._browser is None:
            return
        if cfg.relaunch_every and self._lookups_since_launch >= cfg.relaunch_every:
            self.stats["browser_relaunches"] += 1
            self._close_browser()
        elif (
            cfg.browser_max_rss_mb
            and self._lookups_since_launch % MEMORY_CHECK_EVERY == 0
            and self._browser_over_memory(cfg.browser_max_rss_mb << 20)
        ):
            self.stats["browser_relaunches_rss"] += 1
            self._close_browser()

    def _browser_over_memory(self, limit: int) -> bool:
        # Summed RSS is never below PSS and costs a tenth as much to read: PSS only near it.
        try:
            return self.browser_rss_bytes() > limit and self.browser_pss_bytes() > limit
        except Exception:  # runs after the answer is in hand: never lose it to this check
            log.warning("could not read the browser's memory", exc_info=True)
            return False

    def _close_browser(self) -> None:
        self._end_session()
        browser, self._browser = self._browser, None
        if browser is not None:
            with contextlib.suppress(self.driver.Error):
                browser.close()
        self._browser_pid = None

    def _forget_browser(self) -> None:
        """Drop a dead browser, killing whatever is left of its process tree."""
        pid = self._browser_pid
        self._close_browser()
        if pid is not None:
            try:
                root = psutil.Process(pid)
                for proc in [*root.children(recursive=True), root]:
                    proc.kill()
            except psutil.NoSuchProcess:
                pass

    def _make_stealth(self) -> Any:
        from playwright_stealth import Stealth

        return Stealth(
            navigator_languages_override=("es-CO", "es"),
            navigator_platform_override="Linux x86_64",
            navigator_user_agent_override=self._user_agent or None,
        )


def _no_token(*args: Any) -> str:
    raise AssertionError("the canary never asks for a captcha token")


# --- the process-wide default client (one per thread: Playwright's sync API is thread-bound) --
_default = threading.local()


def default_client() -> CensusClient:
    client = getattr(_default, "client", None)
    if client is not None and getattr(_default, "pid", None) != os.getpid():
        client = None  # inherited through fork: its browser belongs to the parent
    if client is None:
        config = _default_options.get("config") or ScrapingConfig.from_env()
        options = {k: v for k, v in _default_options.items() if k != "config"}
        client = CensusClient(config, **options)
        _default.client, _default.pid = client, os.getpid()
    return client


_default_options: dict[str, Any] = {}


def configure_default_client(config: ScrapingConfig | None = None, **options: Any) -> None:
    """The config (default: from the environment) and options (`pacer`, `token_source`,
    `solver`) of default clients created from now on; the Celery worker sets them once per
    process, before its first lookup."""
    _default_options.clear()
    _default_options.update(options, config=config)


# The default client runs on a thread of its own. Playwright's sync API keeps an asyncio loop
# running on the thread that drives it, and Django refuses ORM calls from a thread with a running
# loop (SynchronousOnlyOperation): the Celery task's thread must stay free of it.
_browser_thread: ThreadPoolExecutor | None = None
_browser_thread_pid: int | None = None


def _browser_executor() -> ThreadPoolExecutor:
    global _browser_thread, _browser_thread_pid
    if _browser_thread is None or _browser_thread_pid != os.getpid():
        # New, or inherited through fork (threads do not survive a fork).
        _browser_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="census-browser")
        _browser_thread_pid = os.getpid()
    return _browser_thread


_running: tuple[Future, threading.Event] | None = None  # the lookup on the browser thread


def lookup_cedula(cedula: str, source: str | None = None) -> CensusResult:
    """Look `cedula` up with the default client (browser launched on first use), on the
    process's browser thread. The caller waits; a signal (Celery's soft time limit) still
    interrupts the wait: then `cancel_lookup` stops the lookup before its consulta."""
    global _running
    cancelled = threading.Event()
    future = _browser_executor().submit(lambda: default_client().lookup(cedula, cancelled, source))
    _running = (future, cancelled)
    try:
        return future.result()
    finally:
        _end_session_when_idle(future)


# A worker with nothing to do must not leave the site's page open for hours: its scripts would
# go on running from our address, unpaced. The session ends this long after its last lookup.
SESSION_IDLE_SECONDS = 120.0
_idle_timer: threading.Timer | None = None


def _end_session_when_idle(last: Future) -> None:
    global _idle_timer
    if _idle_timer is not None:
        _idle_timer.cancel()
    executor, pid = _browser_executor(), os.getpid()

    def end_if_still_idle() -> None:
        if _running is None or _running[0] is last:  # no lookup since
            client = getattr(_default, "client", None)
            if client is not None and getattr(_default, "pid", None) == pid:
                client.end_session()

    def on_timer() -> None:
        with contextlib.suppress(RuntimeError):  # the executor shut down meanwhile
            executor.submit(end_if_still_idle)

    _idle_timer = threading.Timer(SESSION_IDLE_SECONDS, on_timer)
    _idle_timer.daemon = True
    _idle_timer.start()


def probe_sources(sources: tuple[str, ...] | None = None) -> list[SourceProbe]:
    """The canary's look at each census page (default: every configured source), with the
    default client on the process's browser thread."""

    def probe_all() -> list[SourceProbe]:
        client = default_client()
        return [client.probe(name) for name in sources or client.config.sources]

    return _browser_executor().submit(probe_all).result()


@dataclasses.dataclass(frozen=True)
class CancelledLookup:
    ended: bool  # False: the lookup is still inside one browser call
    # How it ended, once it has: None for an answer, else its error (a LookupCancelled kind when
    # the cancel stopped it; any other when it ended on its own as the cancel came).
    error: BaseException | None = None


def cancel_lookup(wait: float) -> CancelledLookup:
    """Cancel the lookup the caller stopped waiting for: it ends at its next step, or within a
    moment when it is waiting (a captcha solve, a rate slot), and sends no consulta after the
    cancel; its page and context close on the browser thread, which is then free for the next
    lookup. Waits up to `wait` seconds for it to end, and says whether it has and how: a
    SlotWaitCancelled lookup was held by our own pacing, not by the site."""
    if _running is None:
        return CancelledLookup(ended=True)
    future, cancelled = _running
    cancelled.set()
    try:
        error = future.exception(timeout=wait)
    except FutureTimeout:
        return CancelledLookup(ended=False)
    except CancelledError:
        error = None
    return CancelledLookup(ended=True, error=error)


def close_default_client() -> None:
    """Close the default client's browser and stop the browser thread (worker shutdown)."""
    global _browser_thread
    if _idle_timer is not None:
        _idle_timer.cancel()
    executor = _browser_thread
    if executor is None or _browser_thread_pid != os.getpid():
        return
    _browser_thread = None
    executor.submit(_close_thread_client).result(timeout=30)
    executor.shutdown(wait=False)


def _close_thread_client() -> None:
    client = getattr(_default, "client", None)
    _default.client = None
    if client is not None and getattr(_default, "pid", None) == os.getpid():
        client.close()
