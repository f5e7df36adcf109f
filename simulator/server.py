"""Run the simulator in a background thread (tests) or in the foreground (demo, benchmarks)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
from aiohttp import web

from simulator.app import STATE_KEY, SimulatorSettings, build_app
from simulator.pages import WSP_PATH


class SimulatorControl:
    """Client for the control API (`/__sim__/…`); works against a simulator in any process."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/"
        self._http = httpx.Client(base_url=self.url, timeout=10)

    def set_fault(self, name: str, **spec: Any) -> dict[str, Any]:
        """Arm a fault: e.g. set_fault("http_503", count=2), set_fault("slow", delay=3)."""
        return self._post("__sim__/faults", {"name": name, **spec})

    def clear_faults(self, name: str | None = None) -> dict[str, Any]:
        path = "__sim__/faults" + (f"/{name}" if name else "")
        response = self._http.delete(path)
        response.raise_for_status()
        return response.json()

    def update_settings(self, **changes: Any) -> dict[str, Any]:
        return self._post("__sim__/settings", changes)

    def reset(self) -> dict[str, Any]:
        """Faults, log, counters, tokens and settings back to how the server started."""
        return self._post("__sim__/reset", {})

    def state(self) -> dict[str, Any]:
        return self._get("__sim__/state")

    def log(self) -> list[dict[str, Any]]:
        return self._get("__sim__/log")

    def solves(self) -> list[dict[str, Any]]:
        """Every solve ordered from the solver API, oldest first (see the simulator's doc)."""
        return self._get("__sim__/solves")

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str) -> Any:
        response = self._http.get(path)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: Any) -> Any:
        response = self._http.post(path, json=body)
        if response.status_code == 400:
            raise ValueError(response.json().get("error"))
        response.raise_for_status()
        return response.json()


class SimulatorServer:
    """The simulator on `host:port` (port 0 = a free one), served from a daemon thread.

    >>> with SimulatorServer(port=0) as sim:
    ...     sim.url        # 'http://127.0.0.1:PORT/'
    ...     sim.control.set_fault("http_503", count=1)
    """

    def __init__(
        self, port: int = 0, host: str = "127.0.0.1", wsp_port: int | None = 0, **settings: Any
    ) -> None:
        self.host = host
        self.port = port
        # The older form answers on a port of its own too (another host to the client: its
        # own circuit and polite rate); None serves it on `port` only.
        self.wsp_port = wsp_port
        self.settings = SimulatorSettings(**settings)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._control: SimulatorControl | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def wsp_url(self) -> str:
        """The older form's page (REGISTRADURIA_WSP_URL)."""
        port = self.wsp_port if self.wsp_port is not None else self.port
        return f"http://{self.host}:{port}{WSP_PATH}"

    @property
    def solver_url(self) -> str:
        """Base URL of the 2captcha-compatible API (CAPTCHA_API_URL)."""
        return f"http://{self.host}:{self.port}/solver"

    @property
    def control(self) -> SimulatorControl:
        if self._control is None:
            self._control = SimulatorControl(self.url)
        return self._control

    def start(self) -> SimulatorServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="census-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _start_site(self) -> None:
        self._runner = web.AppRunner(build_app(self.settings), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        if self.wsp_port is not None:
            wsp_site = web.TCPSite(self._runner, self.host, self.wsp_port)
            await wsp_site.start()
            self.wsp_port = wsp_site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._loop is not None and self._thread is not None:
            state = self._runner.app[STATE_KEY] if self._runner else None
            if state is not None:
                self._loop.call_soon_threadsafe(state.release.set)  # free hung handlers
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
