"""Census lookups on the Registraduría page — knows cédulas and pages, never Django.

Public API
----------
``lookup_cedula(cedula: str, source: str | None = None) -> CensusResult``
    Look a cédula up on census page ``source`` (``consultacenso`` or ``wsp``; default the first
    of ``ScrapingConfig.sources``) with the process-wide default client (config from the
    environment, browser launched lazily on first use — i.e. after a Celery fork). Call
    ``close_default_client()`` at worker shutdown. One default client per thread.
``CensusClient(config: ScrapingConfig | None = None, *, token_source=None, solver=None)``
    ``.lookup(cedula, cancelled=None, source=None) -> CensusResult`` (the result names its
    ``source``), ``.probe(source) -> SourceProbe`` (the drift canary's look: the page loaded
    and checked, never submitted), ``.close()``, ``.counters() -> dict``,
    ``.browser_rss_bytes() -> int``, ``.browser_pss_bytes() -> int``,
    ``.open_contexts() -> int``, ``.browser_pid``.
    One Chromium per client, reused; one session (context and page) for ``session_lookups``
    lookups, ended early by a failed lookup; the browser relaunched after ``relaunch_every``
    lookups, above ``browser_max_rss_mb`` (PSS), and after a crash.
    ``token_source(site_key, page_url, cancelled=event) -> SolvedToken | None`` is asked for
    a pre-solved captcha token first; the solver (``CAPTCHA_SOLVER``) runs only when it has
    none. ``.lookup(cedula, cancelled)``: setting the event stops the lookup within a moment
    (mid-solve too), before its consulta; what the lookup waits for is given the event.
``ScrapingConfig`` / ``ScrapingConfig.from_env()``
    Every setting, and the only reader of the scraping environment variables.
``CensusResult`` / ``CensusStatus``
    The answer: ``found``, ``not_in_census``, ``cancelled_deceased``, ``cancelled_other``,
    ``pending_review`` (not-found states are results, not errors); ``to_dict()``/``from_dict()``.
Errors (``scraping.errors``)
    ``ScrapingError`` ← retryable ``NetworkError``, ``RateLimitedError`` (``.retry_after``),
    ``CaptchaError``; final ``BotDetectedError``, ``CaptchaSolverUnavailable``,
    ``PageChangedError``, ``RequestRefusedError``. ``RETRYABLE_ERRORS`` is the retryable tuple.
    Bad input (not 3–10 digits once dots/spaces/dashes are stripped) raises ``ValueError``.
``normalize_cedula(value) -> str``, ``SolvedToken``, ``TwoCaptchaSolver``, ``CheckboxSolver``.

Modules: ``site`` (every selector, path and text of the real pages), ``sources`` (each census
page as an adapter over the same steps), ``parser`` (pure JSON/table/body parsing),
``captcha``, ``browser`` (launch, fingerprint, RSS), ``flow`` (the steps of one lookup),
``client``; the simulator (a local imitation of both pages, with faults) lives in ``simulator``.
Playwright's sync API owns an event loop: never call the Django ORM from inside a lookup.
"""

from scraping.captcha import CheckboxSolver, SolvedToken, TokenSource, TwoCaptchaSolver
from scraping.cedula import normalize_cedula
from scraping.client import CensusClient, close_default_client, default_client, lookup_cedula
from scraping.config import ScrapingConfig
from scraping.errors import (
    RETRYABLE_ERRORS,
    BotDetectedError,
    CaptchaError,
    CaptchaSolverUnavailable,
    NetworkError,
    PageChangedError,
    RateLimitedError,
    RequestRefusedError,
    ScrapingError,
)
from scraping.results import CensusResult, CensusStatus

__all__ = [
    "RETRYABLE_ERRORS",
    "BotDetectedError",
    "CaptchaError",
    "CaptchaSolverUnavailable",
    "CensusClient",
    "CensusResult",
    "CensusStatus",
    "CheckboxSolver",
    "NetworkError",
    "PageChangedError",
    "RateLimitedError",
    "RequestRefusedError",
    "ScrapingConfig",
    "ScrapingError",
    "SolvedToken",
    "TokenSource",
    "TwoCaptchaSolver",
    "close_default_client",
    "default_client",
    "lookup_cedula",
    "normalize_cedula",
]
