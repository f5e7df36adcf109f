"""Cédula normalisation and configuration from the environment."""

import pytest

from scraping.cedula import normalize_cedula
from scraping.config import ScrapingConfig
from scraping.errors import (
    RETRYABLE_ERRORS,
    BotDetectedError,
    CaptchaError,
    CaptchaTokenRejected,
    NetworkError,
    RateLimitedError,
)


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("1.020.304.050", "1020304050"),
        (" 52 123 456 ", "52123456"),
        ("79-123-456", "79123456"),
        ("123", "123"),
    ],
)
def test_normalise(typed, digits):
    assert normalize_cedula(typed) == digits


@pytest.mark.parametrize(
    "bad", ["", "12", "12345678901", "12a456", "١٢٣٤٥٦", "123;DROP", "1_000_000", None]
)
def test_reject(bad):
    with pytest.raises(ValueError):
        normalize_cedula(bad)


def test_config_defaults():
    cfg = ScrapingConfig.from_env({})
    assert cfg.url == "https://consultacenso.registraduria.gov.co/"
    assert cfg.captcha_solver == "twocaptcha"
    assert cfg.captcha_api_url == "https://2captcha.com"
    assert cfg.human_pauses == (2.0, 5.0)
    assert cfg.headless is True
    assert cfg.driver == "playwright"
    assert cfg.proxy is None


def test_config_from_env():
    cfg = ScrapingConfig.from_env(
        {
            "REGISTRADURIA_URL": "http://127.0.0.1:8001/",
            "CAPTCHA_SOLVER": "checkbox",
            "CAPTCHA_API_KEY": "k",
            "SCRAPING_HUMAN_PAUSES": "0",
            "SCRAPING_HEADLESS": "false",
            "SCRAPING_DRIVER": "patchright",
            "SCRAPING_PROXY": "http://u:p@proxy:3128",
            "SCRAPING_RELAUNCH_EVERY": "50",
            "SCRAPING_SESSION_LOOKUPS": "7",
            "SCRAPING_BROWSER_MAX_RSS_MB": "700",
            "SCRAPING_API_TIMEOUT": "12.5",
        }
    )
    assert cfg.url == "http://127.0.0.1:8001/"
    assert cfg.captcha_solver == "checkbox"
    assert cfg.human_pauses is None
    assert cfg.headless is False
    assert cfg.driver == "patchright"
    assert cfg.proxy == "http://u:p@proxy:3128"
    assert (cfg.relaunch_every, cfg.browser_max_rss_mb, cfg.api_timeout) == (50, 700, 12.5)
    assert cfg.session_lookups == 7
    assert ScrapingConfig.from_env({"SCRAPING_HUMAN_PAUSES": "1-3"}).human_pauses == (1.0, 3.0)


def test_config_rejects_unknown_choices():
    with pytest.raises(ValueError):
        ScrapingConfig.from_env({"CAPTCHA_SOLVER": "magic"})
    with pytest.raises(ValueError):
        ScrapingConfig.from_env({"SCRAPING_HUMAN_PAUSES": "5-2"})


def test_retryable_classes():
    assert (NetworkError, RateLimitedError, CaptchaError) == RETRYABLE_ERRORS
    assert isinstance(CaptchaTokenRejected("x"), RETRYABLE_ERRORS)
    assert not isinstance(BotDetectedError("x"), RETRYABLE_ERRORS)
    assert RateLimitedError("x", retry_after=3).retry_after == 3


def test_scraping_never_imports_django():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2] / "scraping"
    for path in root.rglob("*.py"):
        text = path.read_text()
        assert "import django" not in text and "from django" not in text, path
