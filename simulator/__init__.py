"""A faithful local simulator of the Registraduría census page, for tests, demos and benchmarks.

Run: ``python -m simulator --port 8001 [--solve-delay 20] [--strict]``; in tests:
``with SimulatorServer(port=0) as sim: ...`` (background thread; ``sim.url``, ``sim.solver_url``,
``sim.control``).

What it serves (what is known of the real page: docs/CENSUS_SITE.md):

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
  rejected … support ID" page (HTTP ``block_status``, 200 by default like the real one;
  ``block_page="security_event"`` serves F5 ASM's Spanish "se presentó un evento de seguridad").
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
- The older form (wsp) on ``/censo/consultar/`` (and, with ``wsp_port``, on a port of its own:
  another host to the client): ``#nuip``, ``#tipo`` (``-1``), a hidden ``#token`` new on every
  load and tied to ``PHPSESSID``, the captcha widget (its own ``wsp_sitekey``) and ``#enviar``,
  whose script POSTs a multipart form to the same URL; answers ``{"success": true, "data":
  {"message": <table #consulta | text>}}``, ``{"success": false, "reload": true}`` (unknown or
  used page token, or the ``wsp_reload`` fault), "Marque el cuadro…" (bad token),
  "Curl error … timed out" (the ``upstream_timeout`` fault).
- consultacenso page variants (settings): ``submit_control`` (``submit`` | ``script_button`` |
  ``div``), ``key_case`` (``mixed`` | ``upper`` | ``lower``), ``mesa_as_number``,
  ``answer_shape`` (``json`` | ``table``: the January 2026 HTML table).

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
- ``GET /__sim__/solves``: every solve ordered from the solver API, oldest first — ``id``,
  ``submitted_at``, ``polls``, ``last_poll_at`` (epoch s), ``solved``: whether a client still
  polls for a solve it ordered.

Faults (``faults.FAULTS``): ``http_503``, ``http_429`` [retry_after], ``slow`` [delay],
``hang``, ``conn_reset`` — each with ``target`` = consulta (default) | page | elecciones | all;
``markup_changed``, ``json_changed``, ``bot_block`` (page and API), ``captcha_reject``,
``solver_down`` [error = an ERROR_* code, or HTTP_500], ``wsp_reload``, ``upstream_timeout``;
every fault but the solver's takes ``source`` = consultacenso | wsp | all (default). The log's
entries carry their ``source``; counters add ``wsp_page_loads`` and ``wsp_consultas``.
"""

from simulator.app import SimulatorSettings, build_app
from simulator.census import KNOWN_CEDULAS, answer_for, expected_status
from simulator.faults import FAULTS
from simulator.server import SimulatorControl, SimulatorServer

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
