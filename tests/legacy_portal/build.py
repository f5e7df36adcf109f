"""Build the legacy portal's database as a running deployment leaves it, then print (JSON) what
is in it: `python -m tests.legacy_portal.build full|busy` with LEGACY_DATABASE_URL set.

`full`: leaders and plain users with real password hashes; referrals in every old status, some
finished long ago (saved without the signal, their tasks long acknowledged), some still queued
in django_q_ormq by the signal, one finished referral queued again by hand, a task of another
function, a failed task in django_q_task, two schedules. `busy`: referrals whose tasks are
queued, for a qcluster to consume.
"""

import json
import os
import sys
from multiprocessing import Queue, Value

import django

os.environ["DJANGO_SETTINGS_MODULE"] = "tests.legacy_portal.settings"
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django_q.models import OrmQ, Schedule  # noqa: E402
from django_q.monitor import monitor  # noqa: E402
from django_q.signing import SignedPackage  # noqa: E402
from django_q.tasks import async_task, schedule  # noqa: E402
from django_q.worker import worker  # noqa: E402

from tests.legacy_portal import tasks  # noqa: E402
from tests.legacy_portal.models import Referral  # noqa: E402

PASSWORDS = {"lidia": "lidia-clave-vieja-1", "pablo": "pablo-clave-vieja-2", "ops": "ops-vieja-3"}
PLACE = {
    "departamento": "BOGOTA D.C.",
    "municipio": "BOGOTA. D.C.",
    "puesto": "IE INSTITUTO TECNICO CENTRAL",
    "direccion": "CL 13 # 16-74",
    "mesa": "7",
}


def historic(user, cedula, status, **fields):
    """A referral the old cluster finished long ago: bulk_create sends no post_save."""
    (referral,) = Referral.objects.bulk_create(
        [Referral(cedula=cedula, status=status, referred_by=user, **fields)]
    )
    return referral


def run_like_the_cluster(task_id):
    """Take one queued task off django_q_ormq and run it through Django-Q2's own worker and
    monitor, as a qcluster would (`sync=True` re-raises a failure instead of saving it)."""
    row = next(r for r in OrmQ.objects.all() if r.task_id() == task_id)
    tasks, results = Queue(), Queue()
    tasks.put(SignedPackage.loads(row.payload))
    tasks.put("STOP")
    worker(tasks, results, Value("f", -1))
    results.put("STOP")
    monitor(results)
    row.delete()  # acknowledged (ack_failures)


def full():
    leaders = Group.objects.create(name="leaders")
    lidia = User.objects.create_user("lidia", "lidia@example.com", PASSWORDS["lidia"])
    lidia.groups.add(leaders)
    pablo = User.objects.create_user("pablo", "pablo@example.com", PASSWORDS["pablo"])
    ops = User.objects.create_user("ops", "ops@example.com", PASSWORDS["ops"])

    historic(lidia, "71000001", "ACTIVE", nombre="Ana Activa", **PLACE)
    historic(lidia, "71000002", "NOT_FOUND")
    historic(pablo, "71000003", "CANCELLED_DECEASED")
    historic(pablo, "71000004", "CANCELLED_OTHER")
    historic(pablo, "71000005", "BLOCKED")
    historic(lidia, "71000006", "ARCHIVED")  # not a status of the plan
    historic(lidia, "0123", "ACTIVE")  # not a valid cédula
    historic(ops, "71000007", "ACTIVE")  # its user's name is taken in the new portal
    # In flight when the old cluster stopped, no task left in django_q_ormq:
    historic(lidia, "1000000001", "PROCESSING")
    erred = historic(pablo, "1000000003", "ERROR")
    historic(pablo, "1000000004", "TIMEOUT")
    # Registered through the portal: the signal queues their tasks.
    with transaction.atomic():
        Referral.objects.create(cedula="1020304050", nombre="Nuevo Uno", referred_by=lidia)
        Referral.objects.create(cedula="52123456", nombre="Nuevo Dos", referred_by=pablo)
    # Finished, then queued again by hand (a re-verification the old admin asked for), with
    # the function itself rather than its name: pickled by reference to the old code.
    again = historic(lidia, "1000000005", "ACTIVE", **PLACE)
    async_task(tasks.verify_cedula, again.id)
    async_task("tests.legacy_portal.tasks.send_digest", "weekly")
    # A failed task, saved in django_q_task by Django-Q2 itself.
    run_like_the_cluster(async_task("tests.legacy_portal.tasks.explode", erred.id))
    schedule(
        "tests.legacy_portal.tasks.check_stuck_referrals",
        name="stuck referrals",
        schedule_type=Schedule.MINUTES,
        minutes=5,
    )
    schedule("tests.legacy_portal.tasks.send_digest", "daily", name="digest", schedule_type="D")
    return {"passwords": PASSWORDS}


def busy():
    user = User.objects.create_user("lidia", "lidia@example.com", PASSWORDS["lidia"])
    for n in range(20):
        with transaction.atomic():
            Referral.objects.create(cedula=str(1_100_000_000 + n), referred_by=user)
    return {}


def large():
    """For timing the cut-over (docs/CUTOVER.md): 20 users, 5,000 referrals, 1,000 queued."""
    statuses = [s for s, _ in Referral.STATUSES]
    users = [User.objects.create_user(f"user{n}", password=f"clave-{n}-larga") for n in range(20)]
    Referral.objects.bulk_create(
        Referral(
            cedula=str(1_200_000_000 + n),
            status=statuses[n % len(statuses)],
            referred_by=users[n % len(users)],
            **PLACE,
        )
        for n in range(4_000)
    )
    for n in range(1_000):
        with transaction.atomic():
            Referral.objects.create(cedula=str(1_300_000_000 + n), referred_by=users[n % 20])
    return {}


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    built = {"full": full, "busy": busy, "large": large}[sys.argv[1]]()
    built["queued"] = OrmQ.objects.count()
    built["referrals"] = {r.cedula: r.status for r in Referral.objects.all()}
    print(json.dumps(built))
