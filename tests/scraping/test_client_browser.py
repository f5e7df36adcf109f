"""CensusClient driving a real Chromium against the simulator: states, faults, captcha, stealth."""

import threading
import time

import httpx
import psutil
import pytest

from scraping import browser as browser_mod
from scraping.captcha import SolvedToken
from scraping.client import CensusClient
from scraping.errors import (
    BotDetectedError,
    CaptchaError,
    CaptchaSolverUnavailable,
    NetworkError,
    PageChangedError,
    RateLimitedError,
)
from scraping.results import CensusStatus
from simulator import KNOWN_CEDULAS, expected_status
from simulator.testing import TEST_API_KEY
from tests.scraping.conftest import as_fresh_visitor, kept_client

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("state", sorted(KNOWN_CEDULAS))
def test_each_census_state(census_client, simulator, state):
    cedula = KNOWN_CEDULAS[state]
    result = census_client.lookup(cedula)
    assert result.status == CensusStatus(expected_status(cedula))
    assert result.cedula == cedula
    if result.status is CensusStatus.FOUND:
        assert result.departamento and result.municipio and result.puesto and result.mesa
        assert result.latitude is not None and result.map_url
    else:
        assert result.message


def test_only_digits_reach_the_site(census_client, simulator):
    result = census_client.lookup("1.020.304.050")
    assert result.cedula == "1020304050"
    assert simulator.control.log()[-1]["cedula"] == "1020304050"
    with pytest.raises(ValueError):
        census_client.lookup("12-ab")


@pytest.fixture(scope="module")
def _fault_client(census_simulator):
    """One browser for the fault cases, with short timeouts: a hung page costs seconds."""
    yield from kept_client(
        census_simulator, api_timeout=2.0, element_timeout=3.0, navigation_timeout=4.0
    )


@pytest.fixture
def fault_client(simulator, _fault_client):
    return as_fresh_visitor(_fault_client)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"name": "http_503"}, NetworkError),
        ({"name": "http_503", "target": "page"}, NetworkError),
        ({"name": "http_503", "target": "elecciones"}, NetworkError),
        ({"name": "conn_reset"}, NetworkError),
        ({"name": "conn_reset", "target": "page"}, NetworkError),
        ({"name": "hang"}, NetworkError),
        ({"name": "hang", "target": "page"}, NetworkError),
        ({"name": "slow", "delay": 4}, NetworkError),
        ({"name": "http_429", "target": "page"}, RateLimitedError),
        ({"name": "http_429", "target": "elecciones"}, RateLimitedError),
        ({"name": "markup_changed"}, PageChangedError),
        ({"name": "json_changed"}, PageChangedError),
        ({"name": "bot_block"}, BotDetectedError),
        ({"name": "captcha_reject"}, CaptchaError),
        ({"name": "solver_down"}, CaptchaSolverUnavailable),
        ({"name": "solver_down", "error": "HTTP_500"}, CaptchaError),
    ],
    ids=lambda v: (
        v.get("name", "") + "-" + v.get("target", v.get("error", ""))
        if isinstance(v, dict)
        else v.__name__
    ),
)
def test_faults_map_to_error_classes(fault_client, simulator, fault, error):
    simulator.control.set_fault(**fault)
    with pytest.raises(error) as info:
        fault_client.lookup(KNOWN_CEDULAS["found"])
    assert type(info.value) is error, repr(info.value)
    simulator.control.reset()
    # The same client recovers once the fault is gone.
    assert fault_client.lookup(KNOWN_CEDULAS["found"]).is_found


@pytest.mark.parametrize(
    "status, page, target",
    [
        (403, "rejected", "all"),
        # What a bare Playwright got from the live site: F5 ASM's Spanish page with HTTP 500. A
        # block, so the source pauses, not a server error retried until the referral fails.
        (500, "security_event", "all"),
        (500, "security_event", "consulta"),
        (500, "security_event", "elecciones"),
        (503, "rejected", "consulta"),
    ],
)
def test_a_block_page_is_a_block_whatever_its_status(
    census_client, simulator, status, page, target
):
    simulator.control.update_settings(block_status=status, block_page=page)
    simulator.control.set_fault("bot_block", target=target)
    with pytest.raises(BotDetectedError, match=rf"HTTP {status}, bot-protection page"):
        census_client.lookup(KNOWN_CEDULAS["found"])


def test_429_carries_retry_after(census_client, simulator):
    simulator.control.set_fault("http_429", retry_after=17)
    with pytest.raises(RateLimitedError) as info:
        census_client.lookup(KNOWN_CEDULAS["found"])
    assert info.value.retry_after == 17


def test_per_client_rate_limit(census_client, simulator):
    simulator.control.update_settings(rate_limit=1, rate_window=30)
    census_client.lookup(KNOWN_CEDULAS["found"])
    with pytest.raises(RateLimitedError) as info:
        census_client.lookup(KNOWN_CEDULAS["found"])
    assert 1 <= info.value.retry_after <= 31


def test_slow_answer_within_timeout_succeeds(census_client, simulator):
    simulator.control.set_fault("slow", delay=1)
    assert census_client.lookup(KNOWN_CEDULAS["not_in_census"]).status is CensusStatus.NOT_IN_CENSUS


def test_expired_token_is_renewed(make_client, simulator):
    # Long enough for the fresh inline token to reach the site on a loaded machine (at 0.5 s a
    # busy CI saw it expire too), short enough to wait out once.
    simulator.control.update_settings(token_lifetime=3)
    # A token from the pool that is already dead at the site (a pool with a bad clock).
    stale = httpx.post(f"{simulator.url}recaptcha/api2/userverify", json={}).json()["token"]
    time.sleep(3.3)
    handed = []

    def token_source(site_key, page_url, cancelled=None):
        if handed:
            return None  # pool empty: the client must solve inline
        handed.append(stale)
        return SolvedToken(stale)

    client = make_client(captcha_attempts=3)
    client.token_source = token_source
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found
    counters = simulator.control.state()["counters"]
    assert counters["token_rejections_expired"] == 1
    assert counters["solver_solved"] == 1
    assert client.counters()["token_rejected"] == 1
    assert client.counters()["tokens_from_source"] == 1


def test_token_source_spares_the_solver(make_client, simulator):
    def token_source(site_key, page_url, cancelled=None):
        assert site_key == simulator.settings.sitekey
        token = httpx.post(f"{simulator.url}recaptcha/api2/userverify", json={}).json()["token"]
        return SolvedToken(token)

    client = make_client()
    client.token_source = token_source
    assert client.lookup(KNOWN_CEDULAS["pending_review"]).status is CensusStatus.PENDING_REVIEW
    assert simulator.control.state()["counters"].get("solver_submits", 0) == 0


def test_reused_token_rejected_then_bounded(make_client, simulator):
    used = httpx.post(f"{simulator.url}recaptcha/api2/userverify", json={}).json()["token"]
    client = make_client(captcha_solver="none", captcha_attempts=2)
    client.token_source = lambda site_key, page_url, cancelled=None: SolvedToken(used)
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found  # first use is fine
    with pytest.raises(CaptchaError):
        client.lookup(KNOWN_CEDULAS["found"])
    assert simulator.control.state()["counters"]["token_rejections_reused"] == 2


def test_checkbox_solver_end_to_end(make_client, simulator):
    client = make_client(captcha_solver="checkbox")
    result = client.lookup(KNOWN_CEDULAS["cancelled_deceased"])
    assert result.status is CensusStatus.CANCELLED_DECEASED
    counters = simulator.control.state()["counters"]
    assert counters["widget_tokens"] == 1
    assert counters.get("solver_submits", 0) == 0


def test_twocaptcha_solver_end_to_end(make_client, simulator):
    # The solve outlasts several poll intervals, even when a loaded machine delays the first
    # poll (0.3 s did not: one poll found it solved on a busy CI run).
    simulator.control.update_settings(solve_delay=1.5)
    client = make_client(captcha_solver="twocaptcha", captcha_poll_interval=0.1)
    assert client.lookup(KNOWN_CEDULAS["found_lowercase"]).is_found
    assert client.counters()["captcha_solves"] == 1
    assert client.counters()["captcha_cost_micro_usd"] == 2990
    counters = simulator.control.state()["counters"]
    assert counters["solver_solved"] == 1 and counters["solver_polls"] >= 2


def test_strict_mode_blocks_plain_headless_but_not_the_client(make_client, simulator):
    simulator.control.update_settings(strict=True)
    census_client = make_client(browser_path=None)  # production's browser: its look is the test
    # A plain Playwright Chromium, headless, no stealth: the F5-like gate must reject it.
    driver = browser_mod.load_driver("playwright")
    playwright = browser_mod.acquire_playwright(driver)
    try:
        cfg = census_client.config
        plain = playwright.chromium.launch(**browser_mod.launch_options(playwright, cfg))
        try:
            page = plain.new_page()
            page.goto(simulator.url)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            assert "requested URL was rejected" in page.content()
            assert page.locator("#consultaForm").count() == 0
        finally:
            plain.close()
    finally:
        browser_mod.release_playwright(driver)
    blocked = simulator.control.state()["counters"]["blocked"]
    assert blocked >= 1
    # The stealth client passes the same gate.
    assert census_client.lookup(KNOWN_CEDULAS["found"]).is_found
    assert simulator.control.state()["counters"]["blocked"] == blocked


def test_browser_crash_does_not_break_next_lookup(make_client, simulator):
    import psutil

    client = make_client()
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found
    pid = client.browser_pid
    assert pid is not None
    browser = psutil.Process(pid)
    browser.kill()
    # Not our child (the driver's): waits until the pid is gone, reaped by its parent or not.
    browser.wait(5)
    assert client.lookup(KNOWN_CEDULAS["not_in_census"]).status is CensusStatus.NOT_IN_CENSUS
    assert client.browser_pid not in (None, pid)
    counters = client.counters()
    assert counters["browser_launches"] == 2 and counters["browser_crashes"] == 1
    assert counters["sessions"] == 2  # the dead browser's session went with it


def test_relaunch_every_n_lookups(make_client, simulator):
    client = make_client(relaunch_every=2)
    for _ in range(3):
        client.lookup(KNOWN_CEDULAS["found"])
    assert client.counters()["browser_launches"] == 2
    assert client.counters()["browser_relaunches"] == 1


def test_relaunch_on_memory_limit(make_client, simulator):
    from scraping.client import MEMORY_CHECK_EVERY

    client = make_client(browser_max_rss_mb=1)  # any real browser exceeds 1 MB
    for _ in range(MEMORY_CHECK_EVERY - 1):
        client.lookup(KNOWN_CEDULAS["found"])
    assert client.counters().get("browser_relaunches_rss", 0) == 0  # looked at every few lookups
    for _ in range(MEMORY_CHECK_EVERY + 1):
        client.lookup(KNOWN_CEDULAS["found"])
    assert client.counters()["browser_relaunches_rss"] == 2
    assert client.counters()["browser_launches"] == 2


def test_no_context_outlives_a_lookup_that_failed(census_client, simulator):
    # Contexts hold the pages' requests and responses: one left open per failed lookup would
    # grow the browser for the whole life of the worker. A lookup that answered keeps its
    # session (one context) for the next; one that failed ends it.
    assert census_client.lookup(KNOWN_CEDULAS["found"]).is_found
    assert census_client.open_contexts() == 1
    for fault, error in (("http_503", NetworkError), ("bot_block", BotDetectedError)):
        simulator.control.set_fault(fault)
        with pytest.raises(error):
            census_client.lookup(KNOWN_CEDULAS["found"])
        assert census_client.open_contexts() == 0, fault
        simulator.control.clear_faults()
        assert census_client.lookup(KNOWN_CEDULAS["found"]).is_found  # a new session
        assert census_client.open_contexts() == 1, fault


def _page_hooks(client: CensusClient) -> tuple[int, int]:
    """(listeners, routes) on the kept session's page: what lookups left attached to it."""
    page = client._session.page._impl_obj
    listeners = sum(len(page.listeners(e)) for e in ("request", "response", "requestfailed"))
    return listeners, len(page._routes)


def _visitors(simulator) -> list[str]:
    """Which F5 visitor (the challenge's cookie) sent each consulta, as letters in order of
    first appearance: ["a", "a", "b"] is two consultas from one visitor, then a new one.

    Visitors, not challenges: a browser on a loaded machine may send the challenge's reload
    before its own cookie write lands and so meet the challenge twice in one visit (2 lookups
    in 360 on two saturated cores did)."""
    letters: dict[str, str] = {}
    visitors = []
    for entry in simulator.control.log():
        assert entry["session"], entry  # every consulta carried a valid cookie
        visitors.append(letters.setdefault(entry["session"], chr(ord("a") + len(letters))))
    return visitors


def test_a_session_serves_lookups_on_one_page_and_passes_the_challenge_once(make_client, simulator):
    paced = []
    client = make_client(session_lookups=3)
    client.pacer = lambda cancelled, source: paced.append(source)
    numbers = [str(1_300_000_000 + i * 7919) for i in range(5)]
    for number in numbers:
        assert client.lookup(number).status.value == expected_status(number)
        # Each lookup takes its listeners and its pacing route off the page it leaves behind.
        assert _page_hooks(client) == (0, 0)
    state = simulator.control.state()["counters"]
    assert client.counters()["sessions"] == 2  # lookups 1-3, then 4-5
    assert state["consultas"] == 5 and len(paced) == 5  # one pacing per consulta, never more
    # The site's cookie lives as long as the session: the consultas go out as one F5 visitor
    # per session, not one per lookup; every lookup still loads the page afresh.
    assert _visitors(simulator) == ["a", "a", "a", "b", "b"]
    assert state["page_loads"] >= 5
    assert client.open_contexts() == 1


def test_session_lookups_1_gives_every_lookup_a_fresh_visitor(make_client, simulator):
    client = make_client(session_lookups=1)
    for i in range(3):
        client.lookup(str(1_300_000_000 + i * 7919))
    assert client.counters()["sessions"] == 3
    assert _visitors(simulator) == ["a", "b", "c"]


def test_a_visitor_the_client_forgot_meets_the_challenge_again_on_the_same_page(
    census_client, simulator
):
    census_client.lookup(KNOWN_CEDULAS["found"])
    sessions = census_client.counters()["sessions"]
    census_client.forget_the_site()
    census_client.lookup(KNOWN_CEDULAS["found"])
    assert _visitors(simulator) == ["a", "b"]  # a fresh visitor each time
    assert census_client.counters()["sessions"] == sessions  # on the kept page
    assert census_client.open_contexts() == 1


def test_a_session_whose_page_died_is_replaced(make_client, simulator):
    # (A dead browser takes its session along: test_browser_crash_does_not_break_next_lookup.)
    client = make_client()
    client.lookup(KNOWN_CEDULAS["found"])
    client._session.page.close()
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found
    assert client.counters()["sessions"] == 2
    # A renderer that crashed between two lookups (an OOM kill) leaves the page open but dead.
    for proc in psutil.Process(client.browser_pid).children(recursive=True):
        if "--type=renderer" in proc.cmdline():
            proc.kill()
    time.sleep(0.5)
    assert not client._session.page.is_closed()  # Playwright says it by an event only
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found  # not a NetworkError
    assert client.counters()["sessions"] == 3


def test_client_is_bound_to_its_thread(census_client, simulator):
    census_client.lookup(KNOWN_CEDULAS["found"])
    errors = []

    def other_thread():
        try:
            census_client.lookup("123456")
        except RuntimeError as exc:
            errors.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert errors


@pytest.fixture
def default_client_env(simulator, monkeypatch):
    """The environment the process-wide default client reads: pointed at the simulator."""
    monkeypatch.setenv("REGISTRADURIA_URL", simulator.url)
    monkeypatch.setenv("CAPTCHA_API_URL", simulator.solver_url)
    monkeypatch.setenv("CAPTCHA_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("CAPTCHA_POLL_INTERVAL", "0.02")
    monkeypatch.setenv("SCRAPING_HUMAN_PAUSES", "0")


def test_default_client_lifecycle(default_client_env):
    from scraping import client as client_mod

    try:
        assert client_mod.lookup_cedula(KNOWN_CEDULAS["found"]).is_found
        assert client_mod.lookup_cedula(KNOWN_CEDULAS["not_in_census"]).status == "not_in_census"
        # Playwright runs on the process's browser thread, one browser for both lookups ...
        counters = client_mod._browser_executor().submit(
            lambda: client_mod.default_client().counters()
        )
        assert counters.result()["browser_launches"] == 1
        # ... not on the caller's thread, which keeps no Playwright loop (Django's ORM needs that;
        # the worker test in tests/test_worker_e2e.py shows it end to end).
        browser_thread = client_mod._browser_executor().submit(threading.get_ident).result()
        assert browser_thread != threading.get_ident()
    finally:
        client_mod.close_default_client()


def test_an_idle_worker_closes_the_sites_page(default_client_env, monkeypatch):
    from scraping import client as client_mod

    monkeypatch.setattr(client_mod, "SESSION_IDLE_SECONDS", 1.0)

    def contexts() -> int:
        return (
            client_mod._browser_executor()
            .submit(lambda: client_mod.default_client().open_contexts())
            .result()
        )

    try:
        assert client_mod.lookup_cedula(KNOWN_CEDULAS["found"]).is_found
        assert contexts() == 1  # kept for the next lookup ...
        time.sleep(0.6)
        assert client_mod.lookup_cedula(KNOWN_CEDULAS["found"]).is_found
        time.sleep(0.6)
        assert contexts() == 1  # ... which came before the idle time was up
        deadline = time.monotonic() + 5
        while contexts() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert contexts() == 0  # idle: the site's page is closed
        assert client_mod.lookup_cedula(KNOWN_CEDULAS["found"]).is_found  # a new session
    finally:
        client_mod.close_default_client()


def test_human_pauses_type_digit_by_digit(make_client, simulator):
    client = make_client(human_pauses=(0.1, 0.2))
    started = time.monotonic()
    assert client.lookup("1000000005").status is CensusStatus.PENDING_REVIEW
    assert time.monotonic() - started >= 0.1 + 10 * 0.07


def test_politeness_log(census_client, simulator):
    census_client.lookup(KNOWN_CEDULAS["found"])
    census_client.lookup(KNOWN_CEDULAS["pending_review"])
    log = simulator.control.log()
    assert [e["outcome"] for e in log] == ["found", "pending_review"]
    assert log[0]["ts"] < log[1]["ts"]
    assert all(e["client"] == "127.0.0.1" and e["session"] for e in log)
    assert isinstance(CensusClient, type)


def test_patchright_driver_passes_strict_mode(simulator):
    pytest.importorskip("patchright")
    from simulator.testing import simulator_config

    simulator.control.update_settings(strict=True)
    outcome = []

    # Another driver cannot share this thread's Playwright event loop: give it its own thread.
    def run():
        with CensusClient(simulator_config(simulator, driver="patchright")) as client:
            outcome.append(client.lookup(KNOWN_CEDULAS["found"]))

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert outcome and outcome[0].is_found


def test_an_answer_stands_when_its_page_cannot_be_detached(make_client, simulator, monkeypatch):
    from scraping.flow import LookupFlow

    client = make_client()

    def page_gone(flow):
        raise client.driver.Error("Target page, context or browser has been closed")

    monkeypatch.setattr(LookupFlow, "detach", page_gone)
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found  # not a NetworkError
    assert client.open_contexts() == 0  # the session that could not be detached ended
    monkeypatch.undo()
    assert client.lookup(KNOWN_CEDULAS["found"]).is_found
    assert client.counters()["sessions"] == 2
