"""The simulator seen by a plain HTTP client (no browser): gate, solver API, control API."""

import re
import time

import httpx
import pytest

from scraping.captcha import NoSolver, TwoCaptchaSolver
from scraping.errors import CaptchaError, CaptchaSolverUnavailable
from scraping.parser import detect_block
from simulator import KNOWN_CEDULAS, answer_for, expected_status
from simulator.pages import TS_COOKIE, challenge_hash
from simulator.testing import TEST_API_KEY


def test_plain_http_client_gets_neither_page_nor_answer(simulator):
    with httpx.Client(base_url=simulator.url, follow_redirects=True) as http:
        page = http.get("/")
        assert "consultaForm" not in page.text
        assert detect_block(page.text) == "challenge"
        api = http.post(
            "/back/api/consulta",
            json={"documento": KNOWN_CEDULAS["found"], "eleccionId": 0, "captchaToken": "x"},
        )
        assert "application/json" not in api.headers["content-type"]
        assert detect_block(api.text) is not None
        assert "elecciones" not in http.get("/back/api/elecciones").text
    assert simulator.control.log()[0]["outcome"] == "challenge"


def test_forged_cookie_is_not_accepted(simulator):
    cookies = {"TS01c0ffee": "0123456789ab-0123456789.abc.0"}
    answer = httpx.get(simulator.url, cookies=cookies)
    assert detect_block(answer.text) == "challenge"


def test_census_answers_are_stable():
    for cedula in ("123456", "79876543", "1098765432"):
        assert answer_for(cedula) == answer_for(cedula)
    found = sum(expected_status(str(10_000_000 + i)) == "found" for i in range(400))
    assert 300 < found < 370  # mostly found


def solver(sim, **kwargs):
    return TwoCaptchaSolver(
        sim.solver_url, kwargs.pop("key", TEST_API_KEY), poll_interval=0.02, **kwargs
    )


def test_twocaptcha_solves_and_reports_cost(simulator):
    # A solve of 1 s polled every 0.02 s: polled until ready even when a loaded machine delays
    # the first poll (0.2 s was seen answered at the first poll, on a run beside CPU hogs).
    simulator.control.update_settings(solve_delay=1.0, solve_cost=0.003)
    s = solver(simulator)
    token = s.solve(site_key=simulator.settings.sitekey, page_url=simulator.url)
    assert token.token.startswith("03AF")
    assert token.cost == pytest.approx(0.003)
    assert s.balance() == pytest.approx(100 - 0.003)
    counters = simulator.control.state()["counters"]
    assert counters["solver_submits"] == 1 and counters["solver_polls"] >= 2


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ({"settings": {"solver_balance": 0}}, CaptchaSolverUnavailable),
        ({"settings": {"solver_key": "the-right-key"}}, CaptchaSolverUnavailable),
        (
            {"fault": {"name": "solver_down", "error": "ERROR_WRONG_USER_KEY"}},
            CaptchaSolverUnavailable,
        ),
        ({"fault": {"name": "solver_down", "error": "HTTP_500"}}, CaptchaError),
        ({"fault": {"name": "solver_down", "error": "ERROR_NO_SLOT_AVAILABLE"}}, CaptchaError),
        ({"settings": {"solve_delay": 5}, "timeout": 0.3}, CaptchaError),
    ],
)
def test_twocaptcha_failures_map_to_the_taxonomy(simulator, setup, error):
    if "settings" in setup:
        simulator.control.update_settings(**setup["settings"])
    if "fault" in setup:
        simulator.control.set_fault(**setup["fault"])
    s = solver(simulator, timeout=setup.get("timeout", 5))
    with pytest.raises(error) as info:
        s.solve(site_key=simulator.settings.sitekey, page_url=simulator.url)
    assert type(info.value) is error


def test_missing_key_and_none_solver():
    with pytest.raises(CaptchaSolverUnavailable):
        TwoCaptchaSolver("http://127.0.0.1:9/", "").solve(site_key="k", page_url="u")
    with pytest.raises(CaptchaSolverUnavailable):
        NoSolver().solve(site_key="k", page_url="u")


def test_solver_unreachable_is_retryable():
    with pytest.raises(CaptchaError):
        TwoCaptchaSolver("http://127.0.0.1:9", "k", timeout=1).solve(site_key="k", page_url="u")


def test_control_api(simulator):
    with pytest.raises(ValueError):
        simulator.control.set_fault("no_such_fault")
    with pytest.raises(ValueError):
        simulator.control.update_settings(no_such_setting=1)
    state = simulator.control.set_fault("http_503", count=2, target="page")
    assert state["faults"][0]["name"] == "http_503"
    simulator.control.clear_faults("http_503")
    assert simulator.control.state()["faults"] == []
    simulator.control.update_settings(strict=True)
    assert simulator.control.reset()["settings"]["strict"] is False


def passed_challenge(http: httpx.Client) -> None:
    """Give `http` the TS cookie the challenge script would have set in a browser."""
    nonce = re.search(r'var n = "([0-9a-f-]+)"', http.get("/").text)[1]
    hashed = challenge_hash(nonce, http.headers["User-Agent"])
    http.cookies.set(TS_COOKIE, f"{nonce}.{hashed}.0")


def test_a_slow_answer_held_over_a_reset_does_not_count_in_the_next_run(simulator):
    """A test gives up on a slow answer and the simulator is reset for the next test: when
    the held request wakes, it must not count in the new run's rate window (the next test's
    first consulta got a 429 from it)."""
    consulta = {"documento": KNOWN_CEDULAS["found"], "eleccionId": 0, "captchaToken": "x"}
    with httpx.Client(base_url=simulator.url) as http:
        passed_challenge(http)
        simulator.control.set_fault("slow", delay=1.0, target="consulta")
        with pytest.raises(httpx.ReadTimeout):
            http.post("/back/api/consulta", json=consulta, timeout=0.2)
        simulator.control.reset()
        simulator.control.update_settings(rate_limit=1, rate_window=30)
        time.sleep(1.5)  # past the held request's wake-up
        answer = http.post("/back/api/consulta", json=consulta)
    assert answer.status_code == 200, answer.text
    assert len(simulator.control.log()) == 1
