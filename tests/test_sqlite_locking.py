"""SQLite in WAL mode, IMMEDIATE transactions: concurrent writers never see "database is locked"."""

import subprocess
import sys

import pytest
from django.db import connection

from referrals.models import Referral
from tests.procs import ROOT, child_env

pytestmark = pytest.mark.django_db(transaction=True)

WRITER = """
import os, sys, time, django
django.setup()
from django.contrib.auth.models import User
from django.db import transaction, OperationalError
from referrals.models import Referral, Status
prefix, seconds = sys.argv[1], float(sys.argv[2])
user = User.objects.get(username="writer")
created = locked = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    try:
        with transaction.atomic():
            # Read then write in one transaction: the pattern that deadlocks under DEFERRED.
            n = Referral.objects.filter(cedula__startswith=prefix).count()
            r = Referral.objects.create(cedula=f"{prefix}{n:06d}", referred_by=user)
            Referral.objects.filter(pk=r.pk).update(status=Status.VERIFIED, attempts=1)
        created += 1
    except OperationalError as exc:
        if "locked" in str(exc):
            locked += 1
        else:
            raise
print(created, locked)
"""


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite-specific")
def test_concurrent_writers_never_see_database_is_locked(django_user_model):
    django_user_model.objects.create_user("writer")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, prefix, "4"],
            cwd=ROOT,
            env=child_env(DJANGO_SETTINGS_MODULE="project.settings"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("1", "2", "3")
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        results.append(tuple(int(x) for x in out.split()))
    created = sum(c for c, _ in results)
    locked = sum(lock for _, lock in results)
    assert locked == 0
    assert created > 50  # they really did contend
    assert Referral.objects.count() == created
    assert Referral.objects.filter(status="verified").count() == created


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite-specific")
def test_connections_are_wal_immediate_with_a_busy_timeout(settings):
    # The pitfall's fix itself, not only its effect: WAL lets readers go on during a write,
    # IMMEDIATE takes the write lock up front, and a writer waits for it instead of failing.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000  # ms; SQLITE_BUSY_TIMEOUT, 20 s by default
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL: safe with WAL, and no fsync per commit
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
