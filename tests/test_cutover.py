"""The cut-over from a running Django-Q2 portal (`manage.py cutover_from_django_q`).

The source is a real Django-Q2 deployment (tests/legacy_portal: its migrations, the plan's
post_save signal queuing `async_task` on the ORM broker, a failed task saved by Django-Q2's
own worker, schedules) in a second database of the same vendor as the test database. The
command runs as the operator runs it, in its own process.
"""

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from pipeline import broker
from referrals import cutover
from referrals.models import CutoverRecord, Referral, Status
from tests import legacy_portal
from tests.procs import ROOT, child_env, run_manage, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MAPPING = """
[django_q]
verify_funcs = ["tests.legacy_portal.tasks.verify_cedula"]

[schedules]
"tests.legacy_portal.tasks.check_stuck_referrals" = "sweep-stale-referrals"
"""
# What the `full` legacy database holds, and what each referral must become here.
FINAL = {  # carried over as they were: nothing to verify
    "71000001": Status.VERIFIED,
    "71000002": Status.NOT_FOUND,
    "71000003": Status.CANCELLED,
    "71000004": Status.CANCELLED,
    "71000005": Status.BLOCKED,
}
IN_FLIGHT = {  # cédula → what the simulator's census makes of it once verified here
    "1000000001": Status.NOT_FOUND,  # PROCESSING when the old cluster stopped
    "1000000003": Status.CANCELLED,  # ERROR (its task failed in django_q_task)
    "1000000004": Status.CANCELLED,  # TIMEOUT
    "1020304050": Status.VERIFIED,  # PENDING, task queued in django_q_ormq by the signal
    "52123456": Status.VERIFIED,  # PENDING, likewise
    "1000000005": Status.IN_REVIEW,  # ACTIVE, queued again by hand: in django_q_ormq
}
SKIPPED = {"71000006", "0123", "71000007"}  # unknown status, bad cédula, user name taken


@pytest.fixture
def legacy(tmp_path):
    """Build the legacy portal's database; `build(scenario)` returns (its URL, what it holds)."""
    created = []

    def build(scenario: str):
        if connection.vendor == "sqlite":
            url = f"sqlite:///{tmp_path / f'legacy-{scenario}.sqlite3'}"
        else:
            import psycopg

            name = f"{connection.settings_dict['NAME']}_legacy_{scenario}"
            with psycopg.connect(_admin_url(), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                admin.execute(f'CREATE DATABASE "{name}"')
            created.append(name)
            url = _admin_url().rsplit("/", 1)[0] + f"/{name}"
        run = subprocess.run(
            [sys.executable, "-m", "tests.legacy_portal.build", scenario],
            cwd=ROOT,
            env={**os.environ, "LEGACY_DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        return url, json.loads(run.stdout.strip().splitlines()[-1])

    yield build
    if created:
        import psycopg

        with psycopg.connect(_admin_url(), autocommit=True) as admin:
            for name in created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/postgres"


@pytest.fixture
def run_cutover(tmp_path, settings):
    """Run the command: in its own process as the operator does (`own_process=True`), or in
    this one (a manage.py process costs seconds on a loaded machine)."""
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING)

    def run(source, *args, key=legacy_portal.SECRET_KEY, watch="1", own_process=False):
        argv = ["--source", source, "--mapping", str(mapping), "--watch", watch, *args]
        if own_process:
            env = child_env(CUTOVER_SOURCE_SECRET_KEY=key)
            return run_manage("cutover_from_django_q", *argv, env=env)
        settings.CUTOVER_SOURCE_SECRET_KEY = key
        out = io.StringIO()
        try:
            call_command("cutover_from_django_q", *argv, stdout=out)
        except CommandError as exc:
            return subprocess.CompletedProcess(argv, 1, out.getvalue(), str(exc))
        return subprocess.CompletedProcess(argv, 0, out.getvalue(), "")

    return run


def _fingerprint(url: str) -> str:
    """Everything the cut-over could have changed in the old database."""
    source = cutover.SourceDatabase(url)
    try:
        tables = ["auth_user", "referrals_referral", "django_q_ormq", "django_q_task"]
        rows = {t: [sorted(r.items()) for r in source.rows(f"SELECT * FROM {t}")] for t in tables}
    finally:
        source.close()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_cutover_dry_run_then_apply_twice_carries_everything_once(redis, legacy, run_cutover):
    url, built = legacy("full")
    assert built["queued"] == 4  # 2 by the signal, 1 re-verification, 1 digest
    User.objects.create_user("ops", password="ya-existe-aqui-1")  # taken here already
    before = _fingerprint(url)

    dry = run_cutover(url)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing written" in dry.stdout
    assert "to import: 11" in dry.stdout and "verifications to publish: 6" in dry.stdout
    assert Referral.objects.count() == 0 and CutoverRecord.objects.count() == 0
    assert User.objects.count() == 1 and broker.queue_lengths()["scraping"] == 0

    # The wrong old SECRET_KEY: the queue cannot be read, so --apply is refused.
    wrong = run_cutover(url, "--apply", key="not-the-old-key")
    assert wrong.returncode != 0
    assert "could not be read" in wrong.stderr and "BadSignature" in wrong.stderr
    assert Referral.objects.count() == 0 and User.objects.count() == 1

    first = run_cutover(url, "--apply")
    assert first.returncode == 0, first.stderr
    assert "imported now: 11" in first.stdout
    assert "verifications published: 6 (3 of them for a task still queued" in first.stdout
    assert "ops: a user of that name already exists" in first.stdout
    assert "unknown old status 'ARCHIVED'" in first.stdout
    assert "not a valid cédula" in first.stdout
    assert "1 × tests.legacy_portal.tasks.send_digest: not carried over" in first.stdout
    assert "1 × tests.legacy_portal.tasks.explode" in first.stdout  # the failed task
    assert "→ sweep-stale-referrals" in first.stdout
    assert "digest (tests.legacy_portal.tasks.send_digest, daily) → NONE" in first.stdout

    # Users log in with their old passwords; the old leaders are leaders of the campaign, the
    # plain users get the mapping's role (leader by default), all in one team a manager sees.
    for username, password in built["passwords"].items():
        if username != "ops":
            assert Client().login(username=username, password=password), username
    assert not Client().login(username="ops", password=built["passwords"]["ops"])
    carried = User.objects.exclude(username="ops")
    memberships = {u.username: (u.membership.role, u.membership.team.name) for u in carried}
    assert memberships == dict.fromkeys(memberships, ("leader", "Equipo inicial"))
    assert "leaders (old groups ['leaders'] → role leader): 1" in first.stdout
    assert "other users → role leader; all in team 'Equipo inicial'" in first.stdout

    # Every referral is here with the right status; the in-flight ones are queued once each.
    statuses = dict(Referral.objects.values_list("cedula", "status"))
    assert statuses == {**FINAL, **dict.fromkeys(IN_FLIGHT, Status.PENDING)}
    assert not SKIPPED & set(statuses)
    active = Referral.objects.get(cedula="71000001")
    assert active.census_status == "found" and active.puesto == "IE INSTITUTO TECNICO CENTRAL"
    assert active.full_name == "Ana Activa" and active.referred_by.username == "lidia"
    queued = Counter(broker.queued_referral_ids())
    in_flight_ids = set(Referral.objects.filter(cedula__in=IN_FLIGHT).values_list("pk", flat=True))
    assert set(queued) == in_flight_ids and set(queued.values()) == {1}

    second = run_cutover(url, "--apply")
    assert second.returncode == 0, second.stderr
    assert "imported now: 0; carried over earlier: 11" in second.stdout
    assert "verifications published: 0" in second.stdout
    assert Referral.objects.count() == 11 and User.objects.count() == 3
    assert Counter(broker.queued_referral_ids()) == queued  # nothing published again
    assert CutoverRecord.objects.filter(published=True).count() == 6

    assert _fingerprint(url) == before  # the old database was only read


@pytest.mark.worker
def test_in_flight_referrals_are_verified_once_by_a_real_worker(
    legacy, run_cutover, start_worker, pipeline_env, simulator
):
    url, _ = legacy("full")
    worker = start_worker(env=pipeline_env())

    first = run_cutover(url, "--apply", own_process=True)
    assert first.returncode == 0, first.stderr

    def all_final():
        rows = Referral.objects.filter(cedula__in=IN_FLIGHT)
        return rows.count() == 6 and not rows.filter(status__in=Status.in_flight()).exists()

    wait_for(all_final, timeout=120, message="the worker to verify the carried-over referrals")
    assert dict(Referral.objects.filter(cedula__in=IN_FLIGHT).values_list("cedula", "status")) == (
        IN_FLIGHT
    )
    consultas = Counter(entry["cedula"] for entry in simulator.control.log())
    assert consultas == dict.fromkeys(IN_FLIGHT, 1)

    worker.stop()  # from here on, a message published would stay in Redis for us to see
    # A message the worker still held (a deferred duplicate, which will find its referral
    # final) goes back to the queue as it stops: count from here.
    queued = broker.queue_lengths()["scraping"]
    second = run_cutover(url, "--apply", own_process=True)
    assert second.returncode == 0, second.stderr
    assert "verifications published: 0" in second.stdout
    assert broker.queue_lengths()["scraping"] == queued
    assert Counter(entry["cedula"] for entry in simulator.control.log()) == consultas


@pytest.mark.worker  # the old portal's Django-Q2 cluster
def test_apply_is_refused_while_a_qcluster_consumes_the_old_queue(redis, legacy, run_cutover):
    url, built = legacy("busy")
    assert built["queued"] == 20
    log = ROOT / "test-artifacts" / "legacy-qcluster.log"
    log.parent.mkdir(exist_ok=True)
    with open(log, "wb") as out:
        qcluster = subprocess.Popen(
            [sys.executable, "-m", "tests.legacy_portal.manage", "qcluster"],
            cwd=ROOT,
            env={**os.environ, "LEGACY_DATABASE_URL": url},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def consuming():
            source = cutover.SourceDatabase(url)
            try:
                return source.rows("SELECT COUNT(*) AS n FROM django_q_ormq")[0]["n"] < 20
            finally:
                source.close()

        wait_for(consuming, timeout=60, message=f"the qcluster to consume (see {log})")
        refused = run_cutover(url, "--apply", watch="2")
        assert refused.returncode != 0
        assert "the old queue is being consumed" in refused.stderr
        assert "Stop the old qcluster first" in refused.stderr
        assert Referral.objects.count() == 0 and User.objects.count() == 0
        assert broker.queue_lengths()["scraping"] == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(qcluster.pid, signal.SIGTERM)
        try:
            qcluster.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(qcluster.pid, signal.SIGKILL)
            qcluster.wait(10)


def test_mapping_errors_are_reported_not_guessed(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[statuses]\nACTIVE = "verifying"\n')
    with pytest.raises(cutover.CutoverError, match="not a status a referral can start in"):
        cutover.Mapping.load(bad)
    bad.write_text('[schedules]\n"x.y" = "no-such-entry"\n')
    with pytest.raises(cutover.CutoverError, match="beat entries that do not exist"):
        cutover.Mapping.load(bad)
    bad.write_text('[roles]\nothers = "manager"\n')  # the old portal had none above leaders
    with pytest.raises(cutover.CutoverError, match="'manager' is not one of"):
        cutover.Mapping.load(bad)
    bad.write_text('[referrals.columns]\ncedula = ""\n')
    with pytest.raises(cutover.CutoverError, match="missing \\['cedula'\\]"):
        cutover.Mapping.load(bad)
    defaults = cutover.Mapping.load()
    assert defaults.statuses["PROCESSING"].reverify and not defaults.statuses["BLOCKED"].reverify
    assert set(defaults.statuses) == {
        "PENDING", "PROCESSING", "ACTIVE", "NOT_FOUND", "CANCELLED_DECEASED", "CANCELLED_OTHER",
        "ERROR", "TIMEOUT", "BLOCKED",
    }  # fmt: skip


def test_source_connection_is_read_only(legacy):
    url, _ = legacy("busy")
    source = cutover.SourceDatabase(url)
    try:
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            source.rows("DELETE FROM django_q_ormq")
    finally:
        source.close()


def test_rows_a_stopped_cluster_still_holds_refuse_apply_until_released():
    from datetime import timedelta

    from django.utils import timezone

    held = cutover.Plan(cutover.Mapping.load())
    held.activity = cutover.QueueActivity(1, locked_until=timezone.now() + timedelta(minutes=3))
    (reason,) = held.refusals()
    assert "locked by a cluster until" in reason and "Stop the old qcluster" in reason
    with pytest.raises(cutover.CutoverRefused):
        cutover.apply(held)
    held.activity = cutover.QueueActivity(1)
    assert held.refusals() == []
