"""A forward HTTP proxy per egress address, for tests of per-egress politeness.

Production grows scraping capacity with workers behind distinct proxies (SCRAPING_PROXY), each
leaving from its own address. Here each proxy connects upstream from its own loopback address
(127.0.0.2, 127.0.0.3, ...: all of 127/8 is local on Linux), so the simulator's request log,
which records the client address, shows which egress every consulta came through.

Chromium never sends loopback destinations through a proxy, so the page is addressed by a
made-up host name (`census.test`) that only the proxy resolves: to the simulator's port.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

SITE_HOST = "census.test"
# Hop-by-hop headers (RFC 9110 §7.6.1) and the length aiohttp recomputes for the body, which
# passes through as it came (auto_decompress off: its Content-Encoding stays true).
DROPPED = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


def can_leave_from(address: str) -> bool:
    """Whether this machine has `address` (Linux answers for all of 127/8; macOS only for
    127.0.0.1 unless aliases are added)."""
    try:
        with socket.socket() as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


class EgressProxy:
    """`http://127.0.0.1:<port>` forwarding every request to 127.0.0.1:`upstream_port`,
    connecting from `source_address`."""

    def __init__(self, upstream_port: int, source_address: str) -> None:
        self.upstream_port = upstream_port
        self.source_address = source_address
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def site_url(self) -> str:
        """The simulator's page, as the browser must be told to load it (through a proxy)."""
        return f"http://{SITE_HOST}:{self.upstream_port}/"

    def __enter__(self) -> EgressProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        connector = aiohttp.TCPConnector(local_addr=(self.source_address, 0))
        self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self._session.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        if request.url.host != SITE_HOST:
            return web.Response(status=502, text=f"this proxy only reaches {SITE_HOST}")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        upstream = f"http://127.0.0.1:{self.upstream_port}{request.rel_url}"
        async with self._session.request(
            request.method,
            upstream,
            headers=headers,
            data=await request.read(),
            allow_redirects=False,
        ) as response:
            body = await response.read()
            kept = CIMultiDict(
                (k, v) for k, v in response.headers.items() if k.lower() not in DROPPED
            )
            return web.Response(status=response.status, headers=kept, body=body)
