"""`python -m scraping.simulator --port 8001 [--solve-delay 20] [--strict] …`"""

from __future__ import annotations

import argparse

from aiohttp import web

from scraping.simulator.app import SimulatorSettings, build_app
from scraping.simulator.census import KNOWN_CEDULAS


def main() -> None:
    defaults = SimulatorSettings()
    parser = argparse.ArgumentParser(prog="python -m scraping.simulator", description=__doc__)
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
    for state, cedula in KNOWN_CEDULAS.items():
        print(f"  {cedula:>12}  {state}")
    web.run_app(build_app(settings), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
