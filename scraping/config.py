"""Scraping settings. This module is the only reader of the scraping environment variables."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SOLVERS = ("twocaptcha", "checkbox", "none")
# The census pages the client can read (`scraping.sources`), in the default order of preference.
SOURCES = ("consultacenso", "wsp")
DRIVERS = ("playwright", "patchright")


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _pauses(value: str) -> tuple[float, float] | None:
    """`2-5` → (2.0, 5.0) seconds; `0`/`off`/empty → None (no human pauses)."""
    value = value.strip().lower()
    if value in ("", "0", "off", "false", "no"):
        return None
    low, _, high = value.partition("-")
    low_s = float(low)
    high_s = float(high) if high else low_s
    if low_s < 0 or high_s < low_s:
        raise ValueError(f"SCRAPING_HUMAN_PAUSES must look like '2-5', got {value!r}")
    return (low_s, high_s)


def _names(value: str | None) -> tuple[str, ...]:
    """`consultacenso, wsp` → ("consultacenso", "wsp")."""
    return tuple(n.strip().lower() for n in (value or "").split(",") if n.strip())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ScrapingConfig:
    # Page of the census (the SPA); API paths are resolved against it.
    url: str = "https://consultacenso.registraduria.gov.co/"
    # The older census form (a PHP page that posts to itself): the second source.
    wsp_url: str = "https://wsp.registraduria.gov.co/censo/consultar/"
    # The sources a lookup may use, most preferred first (CENSUS_SOURCES).
    sources: tuple[str, ...] = SOURCES
    # Which captcha solver runs when no pre-solved token is at hand.
    captcha_solver: str = "twocaptcha"
    # Base URL of a 2captcha-compatible API (in.php / res.php live under it).
    captcha_api_url: str = "https://2captcha.com"
    # Key for that API; empty means the twocaptcha solver cannot work.
    captcha_api_key: str = ""
    # Accept a plain-http captcha_api_url off this machine (the key would travel in clear):
    # only when someone says so (CAPTCHA_API_ALLOW_HTTP). See `solver_url_problem`.
    allow_http_solver: bool = False
    # Seconds between polls of res.php (2captcha asks for ≥5 s).
    captcha_poll_interval: float = 5.0
    # Give up on one solve after this many seconds (solves take 20–45 s).
    captcha_timeout: float = 180.0
    # Seconds a solved token is taken to live (Google's live ~120 s, counted from the solve);
    # tokens are never sent in their last captcha.SUBMIT_MARGIN seconds.
    captcha_token_ttl: float = 110.0
    # Fresh tokens tried per lookup when the site rejects them.
    captcha_attempts: int = 3
    # (min, max) seconds of "reading" pause before typing; None disables pauses and key delays.
    human_pauses: tuple[float, float] | None = (2.0, 5.0)
    # Chromium binary; None = Playwright's own, else the system's /usr/bin/chromium.
    browser_path: str | None = None
    # Automation library: playwright (with playwright-stealth) or patchright (optional extra).
    driver: str = "playwright"
    # Proxy URL for the browser (http://user:pass@host:port); None = direct.
    proxy: str | None = None
    # The egress address's name for the shared rate limit and circuit breaker, when it is not
    # the proxy's host:port (see `limiter_key`).
    egress_key: str | None = None
    # Headless browser (production); false only for debugging on a desktop.
    headless: bool = True
    # Hard limit for loading the page and passing the F5 challenge, in seconds.
    navigation_timeout: float = 30.0
    # Wait for page elements (form, filled election list), in seconds.
    element_timeout: float = 15.0
    # Wait for the census API to answer a submitted form, in seconds.
    api_timeout: float = 30.0
    # Lookups per browser session (context and page, scraping.client.BrowserSession); a failed
    # lookup ends its session early. 1 = a fresh context for every lookup (4x the CPU).
    session_lookups: int = 50
    # Relaunch the browser after this many lookups (bounds slow leaks); 0 = never.
    relaunch_every: int = 200
    # Relaunch when the browser process tree's memory exceeds this many MB; 0 = never. Measured
    # as PSS (shared pages divided among Chromium's processes): summed RSS counts them once per
    # process and overstates the tree by 2x.
    browser_max_rss_mb: int = 1024

    def __post_init__(self) -> None:
        if self.captcha_solver not in SOLVERS:
            raise ValueError(
                f"CAPTCHA_SOLVER must be one of {SOLVERS}, got {self.captcha_solver!r}"
            )
        unknown = [name for name in self.sources if name not in SOURCES]
        if unknown or not self.sources or len(set(self.sources)) != len(self.sources):
            raise ValueError(
                f"CENSUS_SOURCES must list some of {SOURCES} once each, got {self.sources!r}"
            )
        if self.driver not in DRIVERS:
            raise ValueError(f"SCRAPING_DRIVER must be one of {DRIVERS}, got {self.driver!r}")

    @property
    def limiter_key(self) -> str:
        """Workers with the same key leave through the same address: they share one polite
        rate and one circuit breaker. The proxy's host:port by default (never its password:
        the key ends up in Redis key names), `direct` without a proxy."""
        if self.egress_key:
            return self.egress_key
        if not self.proxy:
            return "direct"
        parts = urlsplit(self.proxy)
        return f"{parts.hostname}:{parts.port}" if parts.hostname else self.proxy

    def url_for(self, source: str) -> str:
        """The page of census source `source`."""
        return self.wsp_url if source == "wsp" else self.url

    def source_key(self, source: str) -> str:
        """The polite-rate and circuit-breaker key of `source` behind this egress address: the
        egress (`limiter_key`) and the source, each its own host that judges us on its own.
        Named by the source rather than its URL's host, so every process agrees on the key
        even when one of them was given the URL in another spelling."""
        return f"{self.limiter_key}@{source}"

    def solver_url_problem(self) -> str | None:
        """Why the solver URL must not be used outside DEBUG, or None. The key goes in every
        request's query string: only https, or plain http to this machine's loopback (the
        simulator), or an explicit CAPTCHA_API_ALLOW_HTTP."""
        if self.captcha_solver != "twocaptcha" or self.allow_http_solver:
            return None
        parts = urlsplit(self.captcha_api_url)
        if parts.scheme == "https":
            return None
        host = (parts.hostname or "").lower()
        if parts.scheme == "http" and _is_loopback(host):
            return None
        return (
            f"CAPTCHA_API_URL must be an https:// URL ({parts.scheme or 'no'} scheme given): "
            "the API key would travel in clear. Set CAPTCHA_API_ALLOW_HTTP=1 to accept it "
            "anyway."
        )

    @property
    def api_base(self) -> str:
        """Origin + path of the page, without a trailing slash, for the API paths."""
        return self.url.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScrapingConfig:
        env = os.environ if environ is None else environ
        d = cls()  # the defaults above

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        def num(name: str, default: float) -> float:
            value = get(name)
            return float(value) if value is not None else default

        pauses = get("SCRAPING_HUMAN_PAUSES")
        headless = get("SCRAPING_HEADLESS")
        return cls(
            url=get("REGISTRADURIA_URL") or d.url,
            wsp_url=get("REGISTRADURIA_WSP_URL") or d.wsp_url,
            sources=_names(get("CENSUS_SOURCES")) or d.sources,
            captcha_solver=(get("CAPTCHA_SOLVER") or d.captcha_solver).lower(),
            captcha_api_url=get("CAPTCHA_API_URL") or d.captcha_api_url,
            captcha_api_key=get("CAPTCHA_API_KEY") or "",
            allow_http_solver=_bool(get("CAPTCHA_API_ALLOW_HTTP") or "0"),
            captcha_poll_interval=num("CAPTCHA_POLL_INTERVAL", d.captcha_poll_interval),
            captcha_timeout=num("CAPTCHA_TIMEOUT", d.captcha_timeout),
            captcha_token_ttl=num("CAPTCHA_TOKEN_TTL", d.captcha_token_ttl),
            captcha_attempts=int(num("SCRAPING_CAPTCHA_ATTEMPTS", d.captcha_attempts)),
            human_pauses=_pauses(pauses) if pauses is not None else d.human_pauses,
            browser_path=get("SCRAPING_BROWSER_PATH"),
            driver=(get("SCRAPING_DRIVER") or d.driver).lower(),
            proxy=get("SCRAPING_PROXY"),
            egress_key=get("SCRAPING_LIMITER_KEY"),
            headless=_bool(headless) if headless is not None else d.headless,
            navigation_timeout=num("SCRAPING_NAVIGATION_TIMEOUT", d.navigation_timeout),
            element_timeout=num("SCRAPING_ELEMENT_TIMEOUT", d.element_timeout),
            api_timeout=num("SCRAPING_API_TIMEOUT", d.api_timeout),
            session_lookups=int(num("SCRAPING_SESSION_LOOKUPS", d.session_lookups)),
            relaunch_every=int(num("SCRAPING_RELAUNCH_EVERY", d.relaunch_every)),
            browser_max_rss_mb=int(num("SCRAPING_BROWSER_MAX_RSS_MB", d.browser_max_rss_mb)),
        )
