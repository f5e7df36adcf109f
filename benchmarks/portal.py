"""Portal under load: "Mis referidos" for a leader with 10,000 referrals, SQLite and PostgreSQL.

gunicorn as the Dockerfile runs it (3 sync workers) serves locust (benchmarks/locustfile.py,
headless, on the same two cores) in three phases per database:

1. browse: 20 leaders with a person's think time (~1 s) on the list, a status filter, a search
   and a deep page: the latency people get (target: p99 < 100 ms);
2. ceiling: 10 leaders without think time: requests/s when the server is saturated (latency
   there is mostly waiting in line: 10 clients, 3 workers);
3. create while draining: a real scraping worker (`celery -A project worker -Q scraping -c 1`,
   rate limit out of the way so it writes as fast as its browser allows) verifies a backlog of
   200 referrals against the simulator while 20 leaders browse and 5 registrars post the create
   form. "database is locked" is counted in the gunicorn and worker logs: it must be 0.

Each database is seeded by a child process (`python -m benchmarks.portal seed URL`) that
migrates, bulk-creates the referrals, queues the backlog through `services.create_referral` and
prints a session key for the leader. PostgreSQL: BENCH_POSTGRES_URL (default the `bench`
database on 127.0.0.1, created if missing, emptied first; its name must start with "bench").
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from urllib.parse import urlsplit

import httpx

from benchmarks.common import (
    LOGS,
    RESULTS,
    VENV_BIN,
    Proc,
    celery_worker,
    free_port,
    print_table,
    reset_redis,
    row,
    wait_until,
)

REFERRALS = 10_000
BACKLOG = 200
BROWSERS, BUSY, REGISTRARS = 20, 10, 5
PHASE_S = {"browse": 15, "ceiling": 10, "create": 15}
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/bench")
SQLITE_PATH = "/tmp/bench-cedula-verify/portal.sqlite3"
LOCKED = b"database is locked"


# --- the databases ----------------------------------------------------------------------------
def databases() -> list[tuple[str, str]]:
    """SQLite always; PostgreSQL when its server answers (emptied: a fresh `bench` database)."""
    if os.path.exists(SQLITE_PATH):
        os.remove(SQLITE_PATH)
    out = [("sqlite", f"sqlite:///{SQLITE_PATH}")]
    name = urlsplit(PG_URL).path.lstrip("/")
    if not name.startswith("bench"):
        sys.exit(f"BENCH_POSTGRES_URL must name a database of its own (bench...), not {name!r}")
    admin = PG_URL.rsplit("/", 1)[0] + "/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        done = subprocess.run(["psql", admin, "-c", sql], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"(portal: no PostgreSQL run: {done.stderr.strip()})", flush=True)
            return out
    return [*out, ("postgres", PG_URL)]


def child_env(url: str) -> dict:
    return {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "project.settings"}


def seed(url: str) -> None:
    """In a child process: migrate, give the leader 10,000 referrals, queue a backlog of 200
    verifications, print the leader's session key."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from referrals import services
    from referrals.models import Referral, Status

    call_command("migrate", verbosity=0, interactive=False)
    user, _ = User.objects.get_or_create(username="bench-portal")
    statuses = [Status.VERIFIED] * 7 + [Status.NOT_FOUND, Status.PENDING, Status.FAILED]
    places = [(f"MUNICIPIO {m}", f"PUESTO {m}-{p}") for m in range(30) for p in range(8)]
    rows = []
    for i in range(REFERRALS):
        municipio, puesto = places[i % len(places)]
        rows.append(
            Referral(
                cedula=str(1_700_000_000 + i),
                full_name=f"Persona {i}",
                referred_by=user,
                status=statuses[i % len(statuses)],
                departamento="BOGOTA D.C.",
                municipio=municipio,
                puesto=puesto,
                mesa=str(i % 40 + 1),
            )
        )
    Referral.objects.bulk_create(rows, batch_size=1000)
    registrar, _ = User.objects.get_or_create(username="bench-backlog")
    for i in range(BACKLOG):
        services.create_referral(
            user=registrar,
            cedula=str(1_750_000_000 + i * 7919),
            authorization=services.authorization("attested", by=registrar),
        )
    client = Client()
    client.force_login(user)
    print(client.cookies["sessionid"].value)


# --- one database -----------------------------------------------------------------------------
def locust(label, phase, base, session, classes: list[str], users: int, seconds: int) -> dict:
    """One headless locust run; its per-name stats from the CSV it writes."""
    prefix = f"/tmp/bench-cedula-verify/locust-{label}-{phase}"
    cmd = [str(VENV_BIN / "locust"), "-f", str(RESULTS.parent / "locustfile.py"), *classes]
    # Users join over ~4 s: all at once would open with a burst no group of people makes.
    cmd += ["--headless", "-u", str(users), "-r", str(max(1, users // 4)), "--host", base]
    cmd += ["-t", f"{seconds}s", "--csv", prefix, "--only-summary"]
    env = {**os.environ, "BENCH_SESSION": session, "BENCH_REGISTRARS": str(REGISTRARS)}
    env["BENCH_CEDULA_BASE"] = str(1_900_000_000 if label == "sqlite" else 1_950_000_000)
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / f"portal-locust-{label}-{phase}.log", "wb") as log:
        subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=120)
    with open(f"{prefix}_stats.csv") as f:
        return {r["Name"]: r for r in csv.DictReader(f)}


def measure(label: str, url: str, simulator, seconds: dict) -> dict:
    reset_redis()  # the backlog the seed queues is this database's
    env = {**os.environ, **child_env(url)}
    seeded = subprocess.run(
        [sys.executable, "-m", "benchmarks.portal", "seed", url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    session = seeded.stdout.strip().splitlines()[-1]
    port = free_port()
    cmd = [str(VENV_BIN / "gunicorn"), "project.wsgi:application", "--workers", "3"]
    cmd += ["--bind", f"127.0.0.1:{port}"]
    gunicorn = Proc(f"portal-gunicorn-{label}", cmd, child_env(url))
    worker = None
    base = f"http://127.0.0.1:{port}"

    def phase(name, classes, users):
        return locust(label, name, base, session, classes, users, seconds[name])

    phases = {}
    try:
        wait_until(lambda: _up(base + "/healthz"), timeout=60, interval=0.3, what="gunicorn")
        warm_up(base, session)
        phases["browse"] = phase("browse", ["Leader"], BROWSERS)
        phases["ceiling"] = phase("ceiling", ["BusyLeader"], BUSY)
        simulator.control.reset()
        worker = celery_worker(
            f"portal-worker-{label}", "scraping", SCRAPING_RATE_LIMIT="6000/m", **child_env(url)
        )
        worker.wait_log(" ready.", timeout=90)
        phases["create"] = phase("create", ["Leader", "Registrar"], BROWSERS + REGISTRARS)
        lookups = len(simulator.control.log())
    finally:
        for proc in (worker, gunicorn):
            if proc is not None:
                proc.stop()
    return {
        "database": label,
        "phases": phases,
        "lookups_while_posting": lookups,
        "database_is_locked": {
            p.name: p.log_path.read_bytes().count(LOCKED) for p in (gunicorn, worker)
        },
    }


def warm_up(base: str, session: str) -> None:
    """A few requests per page first: each gunicorn worker's first ones load templates and
    translations, a cost paid once per process, not per request."""
    with httpx.Client(base_url=base, cookies={"sessionid": session}, timeout=30) as client:
        for _ in range(10):  # (not locustfile.PAGES: importing locust monkey-patches threads)
            for path in ("/referidos/", "/referidos/nuevo/"):
                client.get(path).raise_for_status()


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# --- the table --------------------------------------------------------------------------------
def run(simulator, quick: bool = False) -> dict:
    seconds = {"browse": 6, "ceiling": 5, "create": 6} if quick else PHASE_S
    results = [measure(label, url, simulator, seconds) for label, url in databases()]
    rows = []
    for r in results:
        rows += report_rows(r)
    title = f"Portal: gunicorn ×3 on 2 cores shared with locust, {REFERRALS:,} referrals"
    table = print_table(title, rows, "p99", columns={"n": "requests", "target": "req/s; target"})
    return {"results": results, "table": table, "rows": rows}


def report_rows(r: dict) -> list[dict]:
    db, browse, create = r["database"], r["phases"]["browse"], r["phases"]["create"]
    p99 = _num(browse.get("list"), "99%")
    rows = [
        stats_row(f"{db}, {BROWSERS} leaders: list", browse.get("list"), "p99 < 100 ms", p99 < 100)
    ]
    for name in ("list ?status", "list ?q", "list ?page=150", "Aggregated"):
        rows.append(stats_row(f"{db}, {BROWSERS} leaders: {name}", browse.get(name)))
    ceiling = r["phases"]["ceiling"].get("Aggregated")
    rows.append(stats_row(f"{db}, ceiling: {BUSY} without think time", ceiling))
    rows.append(stats_row(f"{db}, create POST while draining", create.get("create POST")))
    rows.append(stats_row(f"{db}, list while draining", create.get("list")))
    locked = sum(r["database_is_locked"].values())
    rows.append(
        row(
            f"{db}: 'database is locked' (web + worker logs)",
            locked,
            f"{r['lookups_while_posting']} lookups meanwhile",
            "",
            "0",
            locked == 0,
        )
    )
    return rows


def _num(stats: dict | None, column: str) -> float:
    return (
        float(stats[column]) if stats and stats.get(column) not in (None, "N/A") else float("nan")
    )


def stats_row(name: str, stats: dict | None, target: str = "", met: bool | None = None) -> dict:
    """p50, p99 and req/s of one locust line; failures show next to the rate."""
    if not stats:
        return row(name, "-", "-", 0, target, False if target else None)
    failed = int(stats["Failure Count"])
    rate = f"{float(stats['Requests/s']):.1f} req/s" + (f", {failed} FAILED" if failed else "")
    return row(
        name,
        f"{_num(stats, '50%'):.0f} ms",
        f"{_num(stats, '99%'):.0f} ms",
        stats["Request Count"],
        f"{rate}; {target}" if target else rate,
        met,
    )


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    seed(sys.argv[2])
