"""The simulator's aiohttp application: page, census API, widget, solver API, control API."""

from __future__ import annotations

import asyncio
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

from scraping.simulator import census, pages
from scraping.simulator.faults import HTTP_FAULTS, Fault

STATE_KEY: web.AppKey[SimulatorState] = web.AppKey("state")
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
    rate_limit: int = 0  # consultas per client per window; 0 = no rate limiting
    rate_window: float = 60.0  # seconds

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(self)}
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(names)}")
            setattr(self, key, value)


@dataclass
class _SolveTask:
    submitted: float
    ready_at: float
    cost: float
    token: str | None = None


@dataclass
class SimulatorState:
    initial: SimulatorSettings
    settings: SimulatorSettings = field(init=False)
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.settings = dataclasses.replace(self.initial)
        self.faults: dict[str, Fault] = {}
        self.tokens: dict[str, dict[str, Any]] = {}  # token → {"issued": t, "used": bool}
        self.tasks: dict[str, _SolveTask] = {}
        self.log: list[dict[str, Any]] = []
        self.counters: Counter[str] = Counter()
        self.rate: dict[str, deque[float]] = {}
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

    def spend_token(self, token: Any) -> str | None:
        """Accept (and burn) a token, or say why not."""
        if self.fire("captcha_reject"):
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
    def fire(self, name: str, target: str | None = None) -> Fault | None:
        fault = self.faults.get(name)
        if fault is None:
            return None
        if fault.expired():
            del self.faults[name]
            return None
        if target is not None and not fault.applies_to(target):
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
        text=pages.block_page(), status=state.settings.block_status, content_type="text/html"
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


async def _gate(state: SimulatorState, request: web.Request, target: str) -> web.Response | None:
    """What F5 and the network do before the application sees the request."""
    if state.settings.strict and _is_headless(request):
        return _block(state)
    if state.fire("bot_block"):
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
        fault = state.fire(name, target)
        if fault is None:
            continue
        if name == "conn_reset":
            _reset_connection(request)
            raise _Dropped
        if name == "hang":
            await state.release.wait()
            return web.Response(status=503, text="released")
        if name == "slow":
            await asyncio.sleep(float(fault.params.get("delay", 5)))
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
            changed_markup=state.fire("markup_changed") is not None,
        )
        return web.Response(text=html, content_type="text/html")

    @routes.get("/back/api/elecciones")
    async def elecciones(request: web.Request) -> web.StreamResponse:
        try:
            gated = await _gate(state, request, "elecciones")
        except _Dropped:
            return web.Response()
        return gated or web.json_response({"ok": True, "data": ELECTIONS})

    @routes.post("/back/api/consulta")
    async def consulta(request: web.Request) -> web.StreamResponse:
        state.counters["consultas"] += 1
        entry: dict[str, Any] = {"ts": time.time(), "client": _client_id(request), "cedula": None}
        cookie = state.read_cookie(request)
        entry["session"] = cookie[0][:12] if cookie else None
        try:
            body = await request.json()
        except Exception:
            body = {}
        if isinstance(body, dict):
            entry["cedula"] = body.get("documento")
        state.log.append(entry)  # appended first: hung requests show up in the log too
        entry["outcome"] = "pending"
        try:
            response, entry["outcome"] = await _consulta(request, body)
        except _Dropped:
            entry["outcome"], entry["http_status"] = "conn_reset", None
            return web.Response()
        entry["http_status"] = response.status
        return response

    async def _consulta(request: web.Request, body: Any) -> tuple[web.Response, str]:
        gated = await _gate(state, request, "consulta")
        if gated is not None:
            kinds = {429: "http_429", 503: "http_503"}
            kind = kinds.get(gated.status) or (
                "blocked" if "rejected" in (gated.text or "") else "challenge"
            )
            return gated, kind
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
        if state.fire("json_changed"):
            changed = {"status": "success", "result": {"persona": {"documento": documento}}}
            return web.json_response(changed), "json_changed"
        answer = census.answer_for(documento)
        return web.json_response(answer), census.expected_status(documento)

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
        if params.get("googlekey") != s.sitekey:
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
