"""The simulator's aiohttp application: page, census API, widget, solver API, control API."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import re
import secrets
import socket
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from simulator import census, pages
from simulator.faults import HTTP_FAULTS, Fault

STATE_KEY: web.AppKey[SimulatorState] = web.AppKey("state")
VARIANT_KEY_CASES = ("mixed", "upper", "lower")
ANSWER_SHAPES = ("json", "table")
WSP_CAPTCHA_MISSING = "Marque el cuadro de verificación o captcha!..."
WSP_UPSTREAM_TIMEOUT = (
    "Curl error: Operation timed out after 15008 milliseconds with 0 bytes received"
)
TOKEN_REJECTED = "Token de captcha inválido o expirado. Por favor vuelva a intentarlo."  # noqa: S105
ELECTIONS = [{"id": 0, "nombre": "LUGAR DE VOTACION ACTUAL", "mensaje": "Consulte su puesto"}]


@dataclass
class SimulatorSettings:
    sitekey: str = "6LcSimuladorCensoRegistraduriaKey000000AA"
    token_lifetime: float = 120.0  # seconds a captcha token stays valid (single use)
    solve_delay: float = 0.0  # seconds the solver API takes per solve (the demo uses ~20)
    solve_cost: float = 0.00299  # USD charged per solve
    solver_balance: float = 100.0  # USD; in.php answers ERROR_ZERO_BALANCE below the cost
    solver_key: str | None = None  # None: any non-empty key is accepted
    strict: bool = False  # reject headless tells (webdriver flag, HeadlessChrome UA)
    block_status: int = 200  # HTTP status of the F5 block page (the real one often says 200)
    # Which block page: "rejected" (F5's English "request rejected … support ID") or
    # "security_event" (F5 ASM's Spanish page, seen with HTTP 500 by a bare Playwright).
    block_page: str = "rejected"
    rate_limit: int = 0  # consultas per client per window; 0 = no rate limiting
    rate_window: float = 60.0  # seconds
    # consultacenso page variants: details the live page may have otherwise (the client must
    # read each): the submit control ("submit" button in the form, "script_button" outside it
    # with a click handler, "div": no control a client can recognise), the key case of found
    # answers ("mixed", "upper", "lower"), `mesa` as a JSON number, and the January 2026 answer
    # shape ("json", or "table": an HTML table the page renders).
    submit_control: str = "submit"
    key_case: str = "mixed"
    mesa_as_number: bool = False
    answer_shape: str = "json"
    # The older form (wsp, on /censo/consultar/): its own site key.
    wsp_sitekey: str = "6LcWspCensoRegistraduriaKey0000000000000B"

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(names)}")
            setattr(self, key, value)
        if self.submit_control not in pages.SUBMIT_CONTROLS:
            raise ValueError(f"submit_control must be one of {sorted(pages.SUBMIT_CONTROLS)}")
        if self.key_case not in VARIANT_KEY_CASES or self.answer_shape not in ANSWER_SHAPES:
            raise ValueError(f"key_case in {VARIANT_KEY_CASES}, answer_shape in {ANSWER_SHAPES}")
        if self.block_page not in pages.BLOCK_PAGES:
            raise ValueError(f"block_page must be one of {sorted(pages.BLOCK_PAGES)}")


@dataclass
class _SolveTask:
    submitted: float
    ready_at: float
    cost: float
    token: str | None = None
    # What the solver API saw of this solve (epoch s): who still polls for it, and until when.
    submitted_at: float = field(default_factory=time.time)
    polls: int = 0
    last_poll_at: float | None = None

    def to_json(self, task_id: str) -> dict[str, Any]:
        return {
            "id": task_id,
            "submitted_at": self.submitted_at,
            "polls": self.polls,
            "last_poll_at": self.last_poll_at,
            "solved": self.token is not None,
        }


@dataclass
class SimulatorState:
    initial: SimulatorSettings
    settings: SimulatorSettings = field(init=False)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def __post_init__(self) -> None:
        # A request held over a reset (a slow answer its test gave up on) must not land in
        # the next run's rate window or log: it checks the generation it started in.
        self.generation = 0
        self.reset()

    def reset(self) -> None:
        self.generation += 1
        self.settings = dataclasses.replace(self.initial)
        self.faults: dict[str, Fault] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # token → {"issued": t, "used": bool}
        self.tasks: dict[str, _SolveTask] = {}
        self.log: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()
        self.rate: dict[str, deque[float]] = {}
        self.wsp_sessions: dict[str, str] = {}  # PHPSESSID → the page's current anti-replay token
        release = getattr(self, "release", None)
        if release is not None:
            release.set()  # wake hung requests so they finish
        self.release = asyncio.Event()

    # --- tokens -------------------------------------------------------------------------
    def mint_token(self, issued: float | None = None) -> str:
        token = "03AFcWeA" + secrets.token_urlsafe(48)
        self.tokens[token] = {"issued": issued or time.monotonic(), "used": False}
        self.counters["tokens_issued"] += 1
        return token

    def spend_token(self, token: Any, source: str = "consultacenso") -> str | None:
        """Accept (and burn) a token, or say why not."""
        if self.fire("captcha_reject", source=source):
            return "forced"
        info = self.tokens.get(token) if isinstance(token, str) else None
        if info is None:
            return "unknown"
        if info["used"]:
            return "reused"
        if time.monotonic() - info["issued"] > self.settings.token_lifetime:
            return "expired"
        info["used"] = True
        return None

    # --- faults -------------------------------------------------------------------------
    def fire(self, name: str, target: str | None = None, source: str | None = None) -> Fault | None:
        fault = self.faults.get(name)
        if fault is None:
            return None
        if fault.expired():
            del self.faults[name]
            return None
        if target is not None and not fault.applies_to(target):
            return None
        if source is not None and not fault.applies_to_source(source):
            return None
        return fault if fault.fire() else None

    # --- F5-like cookie -----------------------------------------------------------------
    def new_nonce(self) -> str:
        rand = secrets.token_hex(6)
        return f"{rand}-{self._sign(rand)}"

    def _sign(self, rand: str) -> str:
        return hmac.new(self.secret, rand.encode(), hashlib.sha256).hexdigest()[:10]

    def read_cookie(self, request: web.Request) -> tuple[str, int] | None:
        """(nonce, headless-tell flags) from a valid TS cookie, else None."""
        value = request.cookies.get(pages.TS_COOKIE, "")
        m = re.fullmatch(r"([0-9a-f]{12})-([0-9a-f]{10})\.([0-9a-f]+)\.([0-9]+)", value)
        if not m or not hmac.compare_digest(m[2], self._sign(m[1])):
            return None
        nonce = f"{m[1]}-{m[2]}"
        if m[3] != pages.challenge_hash(nonce, request.headers.get("User-Agent", "")):
            return None  # cookie computed for another browser
        return nonce, int(m[4])

    def state_json(self) -> dict[str, Any]:
        live = [t for t in self.tokens.values() if not t["used"]]
        return {
            "settings": dataclasses.asdict(self.settings),
            "faults": [f.to_json() for f in self.faults.values() if not f.expired()],
            "counters": dict(self.counters),
            "tokens": {"issued": len(self.tokens), "unused": len(live)},
            "log_size": len(self.log),
        }


def _is_headless(request: web.Request) -> bool:
    ua = request.headers.get("User-Agent", "")
    ch = request.headers.get("Sec-CH-UA", "")
    return "HeadlessChrome" in ua or "Headless" in ch


def _block(state: SimulatorState) -> web.Response:
    state.counters["blocked"] += 1
    return web.Response(
        text=pages.block_page(state.settings.block_page),
        status=state.settings.block_status,
        content_type="text/html",
    )


def _reset_connection(request: web.Request) -> None:
    sock = request.transport.get_extra_info("socket") if request.transport else None
    if sock is not None:
        # linger 0: the kernel sends RST, the client sees "connection reset by peer".
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if request.transport is not None:
        request.transport.abort()


class _Dropped(Exception):
    """The connection was reset on purpose; there is no answer to send."""


class _ClientGone(_Dropped):
    """The client closed the connection while its request hung (it timed out and left)."""


async def _hang(state: SimulatorState, request: web.Request) -> None:
    """Hold the request until the test releases it, or until the client goes away, as a real
    server notices a closed connection: a consulta the client gave up on is no longer out."""
    while not state.release.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            raise _ClientGone
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.release.wait(), 0.1)


async def _gate(
    state: SimulatorState, request: web.Request, target: str, source: str = "consultacenso"
) -> web.Response | None:
    """What F5 and the network do before the application sees the request."""
    if state.settings.strict and _is_headless(request):
        return _block(state)
    # bot_block hits the page and the APIs alike, or only its `target` when it names one.
    block = state.faults.get("bot_block")
    block_target = target if block is not None and "target" in block.params else None
    if state.fire("bot_block", block_target, source):
        return _block(state)
    cookie = state.read_cookie(request)
    if cookie is None:
        # No (valid) TS cookie: the JavaScript challenge, for the page and the API alike.
        state.counters["challenges"] += 1
        page = pages.challenge_page(state.new_nonce(), strict=state.settings.strict)
        return web.Response(text=page, content_type="text/html")
    if state.settings.strict and cookie[1]:
        return _block(state)
    for name in HTTP_FAULTS:
        fault = state.fire(name, target, source)
        if fault is None:
            continue
        if name == "conn_reset":
            _reset_connection(request)
            raise _Dropped
        if name == "hang":
            await _hang(state, request)
            return web.Response(status=503, text="released")
        if name == "slow":
            generation = state.generation
            await asyncio.sleep(float(fault.params.get("delay", 5)))
            if state.generation != generation:
                # Reset while it waited: its run is over (its client left on a timeout).
                # Answered now, it counted in the next test's rate window: a 429 there.
                raise _ClientGone
        if name == "http_503":
            return web.Response(status=503, text="Service Unavailable")
        if name == "http_429":
            retry = str(fault.params.get("retry_after", 5))
            return web.Response(
                status=429, text="Too Many Requests", headers={"Retry-After": retry}
            )
    return None


def _client_id(request: web.Request) -> str:
    return request.remote or "unknown"


def build_app(initial: SimulatorSettings | None = None) -> web.Application:
    app = web.Application()
    state = SimulatorState(initial or SimulatorSettings())
    app[STATE_KEY] = state
    routes = web.RouteTableDef()

    # --- the page -------------------------------------------------------------------------
    @routes.get("/")
    @routes.get("/consultar/")
    async def page(request: web.Request) -> web.StreamResponse:
        try:
            gated = await _gate(state, request, "page")
        except _Dropped:
            return web.Response()
        if gated is not None:
            return gated
        state.counters["page_loads"] += 1
        html = pages.app_page(
            sitekey=state.settings.sitekey,
            token_lifetime=state.settings.token_lifetime,
            changed_markup=state.fire("markup_changed", source="consultacenso") is not None,
            submit_control=state.settings.submit_control,
        )
        return web.Response(text=html, content_type="text/html")

    @routes.get("/back/api/elecciones")
    async def elecciones(request: web.Request) -> web.StreamResponse:
        try:
            gated = await _gate(state, request, "elecciones")
        except _Dropped:
            return web.Response()
        return gated or web.json_response({"ok": True, "data": ELECTIONS})

    async def _logged(request: web.Request, source: str, cedula: Any, answer) -> web.Response:
        """Count and log one consulta of `source` while `answer` (→ response, outcome) runs."""
        state.counters["consultas"] += 1
        if source != "consultacenso":
            state.counters[f"{source}_consultas"] += 1
        cookie = state.read_cookie(request)
        entry: dict[str, Any] = {
            "ts": time.time(),
            "client": _client_id(request),
            "cedula": cedula,
            "source": source,
            "session": cookie[0][:12] if cookie else None,
            "outcome": "pending",
        }
        state.log.append(entry)  # appended first: hung requests show up in the log too
        try:
            response, entry["outcome"] = await answer
        except _ClientGone:
            entry["outcome"], entry["http_status"] = "client_gone", None
            return web.Response()
        except _Dropped:
            entry["outcome"], entry["http_status"] = "conn_reset", None
            return web.Response()
        finally:
            # When the answer left (or the connection dropped): with `ts`, the span the
            # consulta was out, to show no two of one cédula overlap. A hung one has none.
            entry["answered_ts"] = time.time()
        entry["http_status"] = response.status
        return response

    def _gated_kind(gated: web.Response) -> str:
        kinds = {429: "http_429", 503: "http_503"}
        return kinds.get(gated.status) or (
            "blocked" if "rejected" in (gated.text or "") else "challenge"
        )

    @routes.post("/back/api/consulta")
    async def consulta(request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except Exception:
            body = {}
        cedula = body.get("documento") if isinstance(body, dict) else None
        return await _logged(request, "consultacenso", cedula, _consulta(request, body))

    async def _consulta(request: web.Request, body: Any) -> tuple[web.Response, str]:
        gated = await _gate(state, request, "consulta")
        if gated is not None:
            return gated, _gated_kind(gated)
        s = state.settings
        if s.rate_limit > 0:
            now, hits = time.monotonic(), state.rate.setdefault(_client_id(request), deque())
            while hits and now - hits[0] > s.rate_window:
                hits.popleft()
            if len(hits) >= s.rate_limit:
                wait = max(1, int(s.rate_window - (now - hits[0])) + 1)
                state.counters["rate_limited"] += 1
                headers = {"Retry-After": str(wait)}
                return web.Response(status=429, text="Too Many Requests", headers=headers), (
                    "rate_limited"
                )
            hits.append(now)
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "Solicitud inválida"}), "bad_request"
        documento = str(body.get("documento", ""))
        if not re.fullmatch(r"[0-9]{3,10}", documento):
            return web.json_response({"ok": False, "error": "Número de documento no válido"}), (
                "bad_document"
            )
        if body.get("eleccionId") not in (0, "0"):
            return web.json_response({"ok": False, "error": "Elección no válida"}), "bad_election"
        why = state.spend_token(body.get("captchaToken"))
        if why is not None:
            state.counters["token_rejections"] += 1
            state.counters[f"token_rejections_{why}"] += 1
            return web.json_response({"ok": False, "error": TOKEN_REJECTED}), f"token_{why}"
        if state.fire("json_changed", source="consultacenso"):
            changed = {"status": "success", "result": {"persona": {"documento": documento}}}
            return web.json_response(changed), "json_changed"
        if s.answer_shape == "table":
            table = census.table_for(documento)
            return web.Response(text=table, content_type="text/html"), census.expected_status(
                documento
            )
        answer = census.answer_for(documento, key_case=s.key_case, mesa_as_number=s.mesa_as_number)
        return web.json_response(answer), census.expected_status(documento)

    # --- wsp: the older form, posting multipart to its own URL ------------------------------
    @routes.get(pages.WSP_PATH)
    async def wsp_page(request: web.Request) -> web.StreamResponse:
        try:
            gated = await _gate(state, request, "page", "wsp")
        except _Dropped:
            return web.Response()
        if gated is not None:
            return gated
        state.counters["page_loads"] += 1
        state.counters["wsp_page_loads"] += 1
        session = request.cookies.get(pages.WSP_SESSION_COOKIE) or secrets.token_hex(13)
        nonce = secrets.token_hex(16)  # a new anti-replay token on every load
        state.wsp_sessions[session] = nonce
        html = pages.wsp_page(
            sitekey=state.settings.wsp_sitekey,
            token=nonce,
            changed_markup=state.fire("markup_changed", source="wsp") is not None,
        )
        response = web.Response(text=html, content_type="text/html")
        response.set_cookie(pages.WSP_SESSION_COOKIE, session, path="/")
        return response

    @routes.post(pages.WSP_PATH)
    async def wsp_consulta(request: web.Request) -> web.StreamResponse:
        try:
            form = await request.post()
        except Exception:
            form = {}
        cedula = str(form.get("nuip", "")) or None
        return await _logged(request, "wsp", cedula, _wsp_consulta(request, form))

    async def _wsp_consulta(request: web.Request, form: Any) -> tuple[web.Response, str]:
        gated = await _gate(state, request, "consulta", "wsp")
        if gated is not None:
            return gated, _gated_kind(gated)
        session = request.cookies.get(pages.WSP_SESSION_COOKIE, "")
        expected = state.wsp_sessions.get(session)
        if state.fire("wsp_reload") or expected is None or form.get("token") != expected:
            return web.json_response({"success": False, "reload": True}), "reload"
        why = state.spend_token(form.get("g-recaptcha-response"), source="wsp")
        if why is None:
            del state.wsp_sessions[session]  # an answered page token never posts again
        else:
            state.counters["token_rejections"] += 1
            state.counters[f"token_rejections_{why}"] += 1
            refused = {"success": False, "data": {"message": WSP_CAPTCHA_MISSING}}
            return web.json_response(refused), f"token_{why}"
        if state.fire("upstream_timeout", source="wsp"):
            timeout = {"success": False, "data": {"message": WSP_UPSTREAM_TIMEOUT}}
            return web.json_response(timeout), "upstream_timeout"
        nuip = str(form.get("nuip", ""))
        if not re.fullmatch(r"[0-9]{3,10}", nuip) or form.get("tipo") != "-1":
            bad = {"success": False, "data": {"message": "Número de documento no válido"}}
            return web.json_response(bad), "bad_document"
        if state.fire("json_changed", source="wsp"):
            return web.json_response({"estado": "ok", "html": "<p></p>"}), "json_changed"
        answer = {"success": True, "data": {"message": census.table_for(nuip)}}
        return web.json_response(answer), census.expected_status(nuip)

    # --- the reCAPTCHA-like widget --------------------------------------------------------
    @routes.post("/recaptcha/api2/userverify")
    async def userverify(request: web.Request) -> web.Response:
        state.counters["widget_tokens"] += 1
        return web.json_response({"success": True, "token": state.mint_token()})

    # --- the 2captcha-compatible solver API -----------------------------------------------
    async def _params(request: web.Request) -> dict[str, str]:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        return params

    def _solver_answer(params: dict[str, str], status: int, text: str, **extra: Any):
        if params.get("json") == "1":
            return web.json_response({"status": status, "request": text, **extra})
        return web.Response(text=f"OK|{text}" if status == 1 else text)

    def _solver_refusal(params: dict[str, str]) -> web.Response | None:
        down = state.fire("solver_down")
        if down is not None:
            error = str(down.params.get("error", "ERROR_ZERO_BALANCE"))
            if error == "HTTP_500":
                return web.Response(status=500, text="Internal Server Error")
            return _solver_answer(params, 0, error)
        key = params.get("key", "")
        if not key or (state.settings.solver_key is not None and key != state.settings.solver_key):
            return _solver_answer(params, 0, "ERROR_KEY_DOES_NOT_EXIST")
        return None

    @routes.route("*", "/solver/in.php")
    async def solver_in(request: web.Request) -> web.Response:
        params = await _params(request)
        state.counters["solver_submits"] += 1
        refusal = _solver_refusal(params)
        if refusal is not None:
            return refusal
        s = state.settings
        if params.get("method") != "userrecaptcha":
            return _solver_answer(params, 0, "ERROR_BAD_PARAMETERS")
        if params.get("googlekey") not in (s.sitekey, s.wsp_sitekey):
            return _solver_answer(params, 0, "ERROR_GOOGLEKEY")
        if not params.get("pageurl"):
            return _solver_answer(params, 0, "ERROR_PAGEURL")
        if s.solver_balance < s.solve_cost:
            return _solver_answer(params, 0, "ERROR_ZERO_BALANCE")
        task_id = str(secrets.randbelow(10**10) + 10**10)
        now = time.monotonic()
        state.tasks[task_id] = _SolveTask(now, now + s.solve_delay, s.solve_cost)
        return _solver_answer(params, 1, task_id)

    @routes.route("*", "/solver/res.php")
    async def solver_res(request: web.Request) -> web.Response:
        params = await _params(request)
        refusal = _solver_refusal(params)
        if refusal is not None:
            return refusal
        action = params.get("action")
        if action == "getbalance":
            return _solver_answer(params, 1, f"{state.settings.solver_balance:.5f}")
        if action not in ("get", "get2"):
            return _solver_answer(params, 0, "ERROR_WRONG_ACTION")
        state.counters["solver_polls"] += 1
        task = state.tasks.get(params.get("id", ""))
        if task is None:
            return _solver_answer(params, 0, "ERROR_WRONG_CAPTCHA_ID")
        task.polls += 1
        task.last_poll_at = time.time()
        if time.monotonic() < task.ready_at:
            return _solver_answer(params, 0, "CAPCHA_NOT_READY")
        if task.token is None:
            # The token's life starts when the worker solved it, not when we collect it.
            task.token = state.mint_token(issued=task.ready_at)
            state.settings.solver_balance -= task.cost
            state.counters["solver_solved"] += 1
        return _solver_answer(params, 1, task.token, price=f"{task.cost:.5f}")

    # --- control API ----------------------------------------------------------------------
    @routes.get("/__sim__/state")
    async def get_state(request: web.Request) -> web.Response:
        return web.json_response(state.state_json())

    @routes.get("/__sim__/log")
    async def get_log(request: web.Request) -> web.Response:
        return web.json_response(state.log)

    @routes.get("/__sim__/solves")
    async def get_solves(request: web.Request) -> web.Response:
        return web.json_response([task.to_json(i) for i, task in state.tasks.items()])

    @routes.post("/__sim__/reset")
    async def reset(request: web.Request) -> web.Response:
        state.reset()
        return web.json_response(state.state_json())

    @routes.post("/__sim__/settings")
    async def settings(request: web.Request) -> web.Response:
        try:
            state.settings.update(await request.json())
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(state.state_json())

    @routes.post("/__sim__/faults")
    async def add_faults(request: web.Request) -> web.Response:
        specs = await request.json()
        try:
            for spec in specs if isinstance(specs, list) else [specs]:
                fault = Fault.from_json(spec)
                state.faults[fault.name] = fault
        except (ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(state.state_json())

    @routes.delete("/__sim__/faults")
    @routes.delete("/__sim__/faults/{name}")
    async def clear_faults(request: web.Request) -> web.Response:
        name = request.match_info.get("name")
        if name is None:
            state.faults.clear()
        else:
            state.faults.pop(name, None)
        if "hang" not in state.faults:
            state.release.set()  # let hung requests finish
            state.release = asyncio.Event()
        return web.json_response(state.state_json())

    app.add_routes(routes)
    return app
