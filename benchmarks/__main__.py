"""`python -m benchmarks [NAME ...] [--quick]`: run benchmarks, print their tables, write JSON.

Without names: every benchmark in benchmarks/registry.py marked `by_default`.

Runs on its own Redis database and its own SQLite file, never the development ones:
BENCH_REDIS_URL (default redis://127.0.0.1:6379/9) and BENCH_DATABASE_URL (default a fresh
SQLite file under /tmp/bench-cedula-verify/). Results: benchmarks/results/<name>.json (the
latest, committed), results/history/ (every run) and results/logs/ (process logs).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import sys
import time

from benchmarks.registry import BENCHMARKS, default_names

BENCH_DIR = "/tmp/bench-cedula-verify"
LOCK = "/tmp/bench-cedula-verify.lock"


def one_run_at_a_time():
    """Two runs would share Redis db 9 and /tmp/bench-cedula-verify, and each other's cores:
    the second one waits for nothing and leaves at once."""
    lock = open(LOCK, "a+")  # noqa: SIM115 (held until the process exits)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"another benchmark run holds {LOCK}; wait for it to finish")
    return lock


def configure_environment(sim_port: int) -> None:
    """Everything the benchmark process and its children read, before Django starts."""
    if "BENCH_DATABASE_URL" not in os.environ:
        shutil.rmtree(BENCH_DIR, ignore_errors=True)
        os.makedirs(BENCH_DIR)
    simulator = f"http://127.0.0.1:{sim_port}/"
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
            "DATABASE_URL": os.environ.get(
                "BENCH_DATABASE_URL", f"sqlite:///{BENCH_DIR}/db.sqlite3"
            ),
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-insecure-key",
            # Plain http on loopback: no HTTPS redirect, cookies a plain-http client sends back.
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "STATIC_MANIFEST": "0",
            "AXES_ENABLED": "0",
            # The benchmarks create thousands of referrals per user in a day.
            "NEW_REFERRALS_DAILY_CAP": "1000000",
            "LOG_LEVEL": "WARNING",
            # The census client against the local simulator, human pauses off.
            "REGISTRADURIA_URL": simulator,
            "CAPTCHA_SOLVER": "twocaptcha",
            "CAPTCHA_API_URL": simulator + "solver",
            "CAPTCHA_API_KEY": "bench-key",
            "CAPTCHA_POLL_INTERVAL": "0",  # the simulator's solves are instant: no wait
            "SCRAPING_HUMAN_PAUSES": "0",
            # No pool for the lookups measured here (captcha_pool turns it on for itself).
            "CAPTCHA_POOL_SIZE_MAX": "0",
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="small samples (a smoke run)")
    args = parser.parse_args()
    names = args.names or default_names()
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    _lock = one_run_at_a_time()  # held until this process exits
    from benchmarks.common import Simulator, environment, free_port, write_result

    sim_port = free_port()
    configure_environment(sim_port)

    import django

    django.setup()
    from django.core.management import call_command

    from benchmarks.common import claim_redis, reset_redis

    claim_redis()
    call_command("migrate", verbosity=0, interactive=False)

    started = time.monotonic()
    env = environment()
    tables = []
    needs_simulator = any(BENCHMARKS[name].needs_simulator for name in names)
    simulator = Simulator(sim_port).start() if needs_simulator else None
    try:
        for name in names:
            bench = BENCHMARKS[name]
            t0 = time.monotonic()
            load_before = os.getloadavg()
            result = bench.load().run(simulator if bench.needs_simulator else None, args.quick)
            result |= {
                "environment": env | {"load_avg_before": load_before},
                "load_avg_after": os.getloadavg(),
                "duration_s": time.monotonic() - t0,
                "quick": args.quick,
            }
            path = write_result(name, result)
            tables.append(result["table"])
            print(f"({name}: {result['duration_s']:.0f} s, {path})", flush=True)
    finally:
        if simulator is not None:
            simulator.stop()
        reset_redis()  # leave db 9 empty and marked as ours
    elapsed = time.monotonic() - started
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nall done in {elapsed:.0f} s on {env['cpus']} CPUs, load average now {load}")
    summary = {"names": names, "environment": env, "tables": tables, "duration_s": elapsed}
    write_result("summary", summary | {"quick": args.quick})
    return 0


if __name__ == "__main__":
    sys.exit(main())
