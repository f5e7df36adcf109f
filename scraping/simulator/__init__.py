"""A faithful local simulator of the Registraduría census page, for tests, demos and benchmarks.

Run: ``python -m scraping.simulator --port 8001 [--solve-delay 20] [--strict]``; in tests:
``with SimulatorServer(port=0) as sim: ...`` (background thread; ``sim.url``, ``sim.solver_url``,
``sim.control``).

What it serves (see /work/shared/registraduria/README.md for the real page):

- ``GET /`` (and ``/consultar/``): the SPA — ``#consultaForm``, ``#documento``, ``#eleccion``
  (filled by the page's JS from ``GET /back/api/elecciones``), a reCAPTCHA-v2-like widget
  ``.g-recaptcha[data-sitekey][data-callback]`` with ``textarea#g-recaptcha-response`` (clicking
  ``#recaptcha-anchor`` fetches a token from ``POST /recaptcha/api2/userverify``), and
  ``#resultado``, rendered after ``POST /back/api/consulta``
  (``{"documento", "eleccionId", "captchaToken"}``).
- An F5-like gate: without a valid ``TS01c0ffee`` cookie the page *and* the APIs answer a
  JavaScript challenge that sets the cookie (a hash bound to the User-Agent) and reloads. No JS,
  no cookie, no answer. With ``strict`` the challenge reports ``navigator.webdriver`` and
  ``HeadlessChrome`` and the server checks the UA: tells get the F5 "The requested URL was
  rejected … support ID" page (HTTP ``block_status``, 200 by default like the real one).
- Census answers (``census.answer_for``): ``KNOWN_CEDULAS`` gives one number per state; any
  other number gets a stable hash-based answer (85 % found, key case varied).
- Captcha tokens: minted by the simulator (widget or solver), single use, valid
  ``token_lifetime`` s (120). Bad ones get ``{"ok": false, "error": "Token de captcha inválido
  o expirado…"}`` and are counted (``token_rejections``).
- A 2captcha-compatible solver API under ``/solver``: ``in.php`` (``method=userrecaptcha``,
  ``googlekey``, ``pageurl``, ``key``, ``json=1``), ``res.php?action=get|get2&id=…`` (answers
  ``CAPCHA_NOT_READY`` for ``solve_delay`` s, then the token and its ``price``),
  ``res.php?action=getbalance``. Errors: ``ERROR_KEY_DOES_NOT_EXIST``, ``ERROR_ZERO_BALANCE``,
  ``ERROR_GOOGLEKEY``, ``ERROR_PAGEURL``, ``ERROR_WRONG_CAPTCHA_ID``.
- Optional per-client (remote address) rate limit on the consulta: 429 + ``Retry-After``.

Control API (JSON; ``SimulatorControl`` wraps it):

- ``POST /__sim__/faults`` ``{"name": N, "count": k?, "probability": p?, "duration": s?, ...}``
  (or a list) arms a fault: for the next ``k`` hits, with probability ``p``, for ``s`` seconds —
  or until cleared. ``DELETE /__sim__/faults[/{name}]`` clears (and frees hung requests).
- ``POST /__sim__/settings`` changes ``SimulatorSettings`` fields live (``strict``,
  ``token_lifetime``, ``solve_delay``, ``solve_cost``, ``solver_balance``, ``solver_key``,
  ``block_status``, ``rate_limit``, ``rate_window``).
- ``POST /__sim__/reset``: faults, settings, tokens, counters and log back to start.
- ``GET /__sim__/state``: settings, armed faults, counters (``page_loads``, ``challenges``,
  ``consultas``, ``blocked``, ``tokens_issued``, ``token_rejections[_why]``, ``solver_submits``,
  ``solver_polls``, ``solver_solved``, ``widget_tokens``, ``rate_limited``).
- ``GET /__sim__/log``: every consulta — ``ts`` (epoch s), ``client``, ``session``, ``cedula``,
  ``outcome``, ``http_status``.

Faults (``faults.FAULTS``): ``http_503``, ``http_429`` [retry_after], ``slow`` [delay],
``hang``, ``conn_reset`` — each with ``target`` = consulta (default) | page | elecciones | all;
``markup_changed``, ``json_changed``, ``bot_block`` (page and API), ``captcha_reject``,
``solver_down`` [error = an ERROR_* code, or HTTP_500].
"""

from scraping.simulator.app import SimulatorSettings, build_app
from scraping.simulator.census import KNOWN_CEDULAS, answer_for, expected_status
from scraping.simulator.faults import FAULTS
from scraping.simulator.server import SimulatorControl, SimulatorServer

__all__ = [
    "FAULTS",
    "KNOWN_CEDULAS",
    "SimulatorControl",
    "SimulatorServer",
    "SimulatorSettings",
    "answer_for",
    "build_app",
    "expected_status",
]
