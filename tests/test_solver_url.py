"""The captcha solver's API key never travels in clear (issue 21, item 7): outside DEBUG a
plain-http CAPTCHA_API_URL off this machine stops start-up, unless CAPTCHA_API_ALLOW_HTTP."""

import pytest

from scraping.config import ScrapingConfig
from tests.test_deploy_check import manage, production_env


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://2captcha.com", True),
        ("http://2captcha.com", False),
        ("http://solver.internal:8080", False),
        ("ftp://2captcha.com", False),
        ("2captcha.com", False),
        ("http://127.0.0.1:8001/solver", True),  # the simulator: the key stays on this machine
        ("http://localhost:8001/solver", True),
        ("http://[::1]:8001/solver", True),
        ("http://127.0.0.1.evil.example/", False),
    ],
)
def test_which_solver_urls_are_accepted(url, allowed):
    config = ScrapingConfig.from_env({"CAPTCHA_API_URL": url})
    assert (config.solver_url_problem() is None) is allowed


def test_an_explicit_setting_accepts_plain_http():
    env = {"CAPTCHA_API_URL": "http://solver.internal:8080", "CAPTCHA_API_ALLOW_HTTP": "1"}
    assert ScrapingConfig.from_env(env).solver_url_problem() is None


def test_other_solvers_send_no_key():
    env = {"CAPTCHA_API_URL": "http://2captcha.com", "CAPTCHA_SOLVER": "checkbox"}
    assert ScrapingConfig.from_env(env).solver_url_problem() is None


def test_start_up_refuses_a_plain_http_solver_outside_debug():
    result = manage("check", env=production_env(CAPTCHA_API_URL="http://2captcha.com"))
    assert result.returncode != 0
    assert "CAPTCHA_API_URL must be an https:// URL" in result.stderr


def test_start_up_accepts_it_when_allowed_or_in_debug():
    url = "http://2captcha.com"
    allowed = production_env(CAPTCHA_API_URL=url, CAPTCHA_API_ALLOW_HTTP="1")
    assert manage("check", env=allowed).returncode == 0
    assert manage("check", env=production_env(CAPTCHA_API_URL=url, DEBUG="1")).returncode == 0
