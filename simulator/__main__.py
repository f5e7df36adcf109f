"""`python -m simulator --port 8001 [--solve-delay 20] [--strict] …`"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from aiohttp import web

from simulator.app import SimulatorSettings, build_app
from simulator.census import KNOWN_CEDULAS
from simulator.pages import WSP_PATH


def main() -> None:
    defaults = SimulatorSettings()
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--solve-delay", type=float, default=defaults.solve_delay)
    parser.add_argument("--solve-cost", type=float, default=defaults.solve_cost)
    parser.add_argument("--token-lifetime", type=float, default=defaults.token_lifetime)
    parser.add_argument("--solver-balance", type=float, default=defaults.solver_balance)
    parser.add_argument("--solver-key", default=None, help="only accept this API key")
    parser.add_argument("--strict", action="store_true", help="block headless tells")
    parser.add_argument("--block-status", type=int, default=defaults.block_status)
    parser.add_argument("--rate-limit", type=int, default=0, help="consultas per window; 0=off")
    parser.add_argument("--rate-window", type=float, default=defaults.rate_window)
    parser.add_argument(
        "--wsp-port", type=int, default=None, help="also serve on this port (the wsp form's host)"
    )
    args = parser.parse_args()
    settings = SimulatorSettings(
        solve_delay=args.solve_delay,
        solve_cost=args.solve_cost,
        token_lifetime=args.token_lifetime,
        solver_balance=args.solver_balance,
        solver_key=args.solver_key,
        strict=args.strict,
        block_status=args.block_status,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )
    print(f"census simulator on http://{args.host}:{args.port}/  (solver: /solver)")
    if args.wsp_port:
        print(f"  the wsp form on http://{args.host}:{args.wsp_port}{WSP_PATH}")
    for state, cedula in KNOWN_CEDULAS.items():
        print(f"  {cedula:>12}  {state}")
    asyncio.run(_serve(build_app(settings), args.host, [args.port, args.wsp_port]))


async def _serve(app: web.Application, host: str, ports: list[int | None]) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for port in ports:
        if port:
            await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()  # until interrupted
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
