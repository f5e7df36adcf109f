"""Carrying a running Django-Q2 portal over: its users, its referrals and the work in flight.

`plan()` reads the old database through a read-only connection and decides, row by row, what
happens (nothing is written); `apply()` writes what the plan says. The old portal's shape is a
mapping (`cutover_mapping.toml` holds the defaults; docs/CUTOVER.md the whole procedure).

Exactly once: every user and referral carried over gets a `CutoverRecord`, written in the same
transaction as the row itself. A referral that was in flight (an old status mapped to `pending`,
or a verification task still queued in `django_q_ormq`) has its verification published on that
transaction's commit and its record says so; a second run finds the record and does neither
again. Should the process die between the commit and the publish, the referral is `pending`
with no message in Redis: the stale sweep publishes it (the promise every referral has).
"""

from __future__ import annotations

import io
import pickle
import time
import tomllib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import environ
from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.utils import ConnectionHandler
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.models import Membership, Role, Team

from . import services
from .cedula import InvalidCedula, clean_cedula
from .models import CutoverRecord, Referral, Status

DEFAULT_MAPPING = Path(__file__).with_name("cutover_mapping.toml")
# The campaign roles a carried-over user may get (`[roles] others`): the old portal had leaders
# and plain users, and nobody above them (managers and coordinators are placed here afterwards).
CARRIED_OVER_ROLES = (Role.LEADER, Role.VIEWER)
BATCH_SIZE = 200  # referrals per transaction: a crash loses at most one batch, which re-runs
REFERRAL_FIELDS = ("full_name", "departamento", "municipio", "puesto", "direccion", "mesa")
REQUIRED_COLUMNS = ("id", "cedula", "referred_by", "status")
USER_FIELDS = (
    "id", "username", "password", "email", "first_name", "last_name", "is_active", "is_staff",
    "is_superuser", "date_joined", "last_login",
)  # fmt: skip


class CutoverError(Exception):
    """The cut-over cannot run as configured (bad mapping, unreachable or odd source)."""


class CutoverRefused(Exception):
    """--apply refused: what the operator must do first is in the message."""


# ---------------------------------------------------------------------------------- mapping


@dataclass(frozen=True)
class StatusTarget:
    status: str
    census_status: str = ""

    @property
    def reverify(self) -> bool:
        return self.status == Status.PENDING


@dataclass
class Mapping:
    source_name: str
    cluster_name: str
    verify_funcs: list[str]
    referral_arg: int
    referral_kwarg: str
    users_table: str
    group_table: str
    membership_table: str
    leader_groups: list[str]
    team: str  # the team every carried-over user joins (created when missing)
    other_role: str  # the role of the old portal's plain users
    referral_table: str
    columns: dict[str, str]  # our field → old column (only the ones the old table has)
    statuses: dict[str, StatusTarget]  # OLD STATUS (upper case) → ours
    schedules: dict[str, str]  # Django-Q2 func → beat entry

    @classmethod
    def load(cls, path: str | Path | None = None) -> Mapping:
        data = _read_toml(DEFAULT_MAPPING)
        if path:
            for section, values in _read_toml(Path(path)).items():
                if isinstance(values, dict) and isinstance(data.get(section), dict):
                    _merge(data[section], values)
                else:
                    data[section] = values
        try:
            statuses = {
                str(old).upper(): _status_target(old, target)
                for old, target in data["statuses"].items()
            }
            columns = {ours: col for ours, col in data["referrals"]["columns"].items() if col}
            mapping = cls(
                source_name=data["source"]["name"],
                cluster_name=data["django_q"]["cluster_name"],
                verify_funcs=list(data["django_q"]["verify_funcs"]),
                referral_arg=int(data["django_q"]["referral_arg"]),
                referral_kwarg=data["django_q"]["referral_kwarg"],
                users_table=data["users"]["table"],
                group_table=data["users"]["group_table"],
                membership_table=data["users"]["membership_table"],
                leader_groups=list(data["roles"]["leader_groups"]),
                team=str(data["roles"]["team"]),
                other_role=str(data["roles"]["others"]),
                referral_table=data["referrals"]["table"],
                columns=columns,
                statuses=statuses,
                schedules=dict(data.get("schedules", {})),
            )
        except KeyError as exc:
            raise CutoverError(f"mapping: missing key {exc}") from None
        if mapping.other_role not in CARRIED_OVER_ROLES:
            raise CutoverError(
                f"mapping [roles] others: {mapping.other_role!r} is not one of "
                f"{[str(r) for r in CARRIED_OVER_ROLES]}"
            )
        unknown = set(columns) - {*REQUIRED_COLUMNS, "created_at", *REFERRAL_FIELDS}
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if unknown or missing:
            raise CutoverError(
                f"mapping [referrals.columns]: unknown fields {sorted(unknown)}, missing {missing}"
            )
        beat = getattr(settings, "CELERY_BEAT_SCHEDULE", {})
        wrong = {func: entry for func, entry in mapping.schedules.items() if entry not in beat}
        if wrong:
            raise CutoverError(
                f"mapping [schedules] names beat entries that do not exist: {wrong}; "
                f"known: {sorted(beat)}"
            )
        return mapping


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CutoverError(f"mapping {path}: {exc}") from None


def _merge(base: dict, override: dict) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _status_target(old: str, text: str) -> StatusTarget:
    status, _, census_status = str(text).partition(":")
    allowed = [s for s in Status.values if s not in (Status.VERIFYING, Status.RETRYING)]
    if status not in allowed:
        raise CutoverError(
            f"mapping [statuses] {old} = {text!r}: not a status a referral can start in "
            f"here ({', '.join(allowed)})"
        )
    return StatusTarget(status, census_status)


# ----------------------------------------------------------------------------- the source


class SourceDatabase:
    """The old portal's database, read-only: SQLite opened with mode=ro, PostgreSQL in
    read-only transactions. Nothing here can write to it."""

    def __init__(self, url: str):
        try:
            config = environ.Env.db_url_config(url)
        except Exception as exc:
            raise CutoverError(f"--source is not a database URL: {exc}") from None
        engine = config.get("ENGINE", "")
        if engine == "django.db.backends.sqlite3":
            path = Path(config["NAME"])
            if not path.is_file():
                raise CutoverError(f"--source: no SQLite database at {path}")
            config["NAME"] = f"file:{path}?mode=ro"  # Django opens SQLite with uri=True
        elif engine.startswith("django.db.backends.postgresql"):
            config.setdefault("OPTIONS", {})["options"] = "-c default_transaction_read_only=on"
        else:
            raise CutoverError(f"--source: SQLite and PostgreSQL are supported, not {engine}")
        # A handler of its own (whose one database must be called "default"): the source is
        # never one of this portal's connections, nothing can route a write to it.
        self.connection = ConnectionHandler({"default": config})["default"]
        self.tables = set(self.connection.introspection.table_names())

    def q(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    def columns(self, table: str) -> set[str]:
        with self.connection.cursor() as cursor:
            return {
                c.name for c in self.connection.introspection.get_table_description(cursor, table)
            }

    def rows(self, sql: str, params=()) -> list[dict]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.connection.close()


def _aware(value):
    """A datetime from the source (SQLite may hand back text), timezone-aware."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        value = parse_datetime(value)
        if value is None:
            return None
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


# --------------------------------------------------------------------- Django-Q2's tables


@dataclass
class QueuedTask:
    row_id: int
    task_id: str
    func: str
    referral_id: int | None


@dataclass
class Queue:
    tasks: list[QueuedTask] = field(default_factory=list)
    undecodable: list[tuple[int, str]] = field(default_factory=list)  # (row id, why)

    @property
    def referral_ids(self) -> set[int]:
        return {t.referral_id for t in self.tasks if t.referral_id is not None}


@dataclass(frozen=True)
class MissingGlobal:
    """A function or class named in a pickled package that this process cannot import (the old
    portal's code, e.g. `async_task(verify_cedula, id)` with the function itself)."""

    module: str
    name: str

    def __call__(self, *args, **kwargs):
        return self  # an instance of a class we do not have: keep its name only

    def __str__(self):
        return f"{self.module}.{self.name}"


class _OldCodeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except Exception:  # ImportError, AttributeError, or models of an app not installed
            return MissingGlobal(module, name)


class OldPortalPickleSerializer:
    """Django-Q2's PickleSerializer, except that the old portal's code need not be importable
    here: the signature was checked before this runs, so the bytes are the old portal's own."""

    @staticmethod
    def loads(data: bytes):
        return _OldCodeUnpickler(io.BytesIO(data)).load()


def decode_package(payload: str, *, secret_key: str, cluster_name: str) -> dict:
    """One `django_q_ormq` payload, through Django-Q2's own signing (`core_signing.loads`, what
    `SignedPackage.loads` calls) with the old portal's key and salt instead of this process's
    `Conf`, which SignedPackage cannot be given. The signature is checked before anything is
    unpickled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # django_q.conf warns about the Q_CLUSTER we do not have
        try:
            from django_q import core_signing
        except ImportError:
            raise CutoverError(
                "reading django_q_ormq needs Django-Q2: install the `cutover` extra "
                "(uv sync --extra cutover; the Docker image has it)"
            ) from None

    return core_signing.loads(
        payload, key=secret_key, salt=cluster_name, serializer=OldPortalPickleSerializer
    )


def _func_name(func) -> str:
    if isinstance(func, str | MissingGlobal):
        return str(func)
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def read_queue(source: SourceDatabase, mapping: Mapping, secret_key: str) -> Queue:
    queue = Queue()
    if "django_q_ormq" not in source.tables:
        return queue
    for row in source.rows("SELECT id, payload FROM django_q_ormq ORDER BY id"):
        try:
            package = decode_package(
                row["payload"], secret_key=secret_key, cluster_name=mapping.cluster_name
            )
        except CutoverError:
            raise
        except Exception as exc:  # a bad signature, or a pickled callable we cannot import
            queue.undecodable.append((row["id"], f"{type(exc).__name__}: {exc}"))
            continue
        func = _func_name(package.get("func"))
        referral_id = None
        if func in mapping.verify_funcs:
            args, kwargs = package.get("args") or (), package.get("kwargs") or {}
            raw = kwargs.get(mapping.referral_kwarg)
            if raw is None and len(args) > mapping.referral_arg:
                raw = args[mapping.referral_arg]
            try:
                referral_id = int(raw)
            except (TypeError, ValueError):
                queue.undecodable.append((row["id"], f"{func}: no referral id in {args!r}"))
                continue
        queue.tasks.append(QueuedTask(row["id"], str(package.get("id", "")), func, referral_id))
    return queue


def read_failed_tasks(source: SourceDatabase) -> Counter:
    if "django_q_task" not in source.tables:
        return Counter()
    rows = source.rows(
        "SELECT func, COUNT(*) AS n FROM django_q_task WHERE NOT success GROUP BY func"
    )
    return Counter({r["func"]: r["n"] for r in rows})


@dataclass
class ScheduleLine:
    name: str
    func: str
    every: str
    beat_entry: str | None


SCHEDULE_TYPES = {"O": "once", "I": "minutes", "H": "hourly", "D": "daily", "W": "weekly",
                  "BW": "biweekly", "M": "monthly", "BM": "bimonthly", "Q": "quarterly",
                  "Y": "yearly", "C": "cron"}  # fmt: skip


def read_schedules(source: SourceDatabase, mapping: Mapping) -> list[ScheduleLine]:
    if "django_q_schedule" not in source.tables:
        return []
    has_cron = "cron" in source.columns("django_q_schedule")
    cron = ", cron" if has_cron else ""
    lines = []
    for row in source.rows(
        f"SELECT name, func, schedule_type, minutes{cron} FROM django_q_schedule ORDER BY id"  # noqa: S608 (fixed text)
    ):
        kind = SCHEDULE_TYPES.get(row["schedule_type"], row["schedule_type"])
        if kind == "minutes":
            every = f"every {row['minutes']} min"
        elif kind == "cron":
            every = f"cron {row.get('cron')}"
        else:
            every = kind
        lines.append(
            ScheduleLine(row["name"] or "", row["func"], every, mapping.schedules.get(row["func"]))
        )
    return lines


@dataclass
class QueueActivity:
    """What happened to `django_q_ormq` (and `django_q_task`) while we watched it."""

    seconds: float
    taken: int = 0  # rows locked by a cluster during the watch
    acknowledged: int = 0  # rows that disappeared (done, or failed and acknowledged)
    added: int = 0  # rows queued during the watch: the old portal is not frozen
    results_saved: bool = False  # django_q_task changed: a cluster finished something
    locked_until: datetime | None = None  # the latest lock still held at the end

    @property
    def consumed(self) -> bool:
        return bool(self.taken or self.acknowledged or self.results_saved)


def watch_queue(source: SourceDatabase, seconds: float, poll: float = 0.1) -> QueueActivity:
    """Watch the old queue for `seconds`: a running qcluster locks rows it takes, deletes rows it
    finishes and saves results (Django-Q2 polls its ORM queue every 0.2 s by default)."""
    activity = QueueActivity(seconds)
    if "django_q_ormq" not in source.tables:
        return activity

    def snapshot():
        rows = {
            r["id"]: _aware(r["lock"]) for r in source.rows("SELECT id, lock FROM django_q_ormq")
        }
        results = None
        if "django_q_task" in source.tables:
            results = tuple(
                source.rows("SELECT COUNT(*) AS n, MAX(stopped) AS last FROM django_q_task")[
                    0
                ].values()
            )
        return rows, results

    first, first_results = snapshot()
    seen_locks = dict(first)
    gone: set[int] = set()
    deadline = time.monotonic() + seconds
    rows, results = first, first_results
    while time.monotonic() < deadline:
        time.sleep(poll)
        rows, results = snapshot()
        for row_id, lock in rows.items():
            if row_id in seen_locks and lock != seen_locks[row_id]:
                activity.taken += 1
            seen_locks[row_id] = lock
        gone |= set(first) - set(rows)
        activity.added = len(set(seen_locks) - set(first))
        if results != first_results:
            activity.results_saved = True
    activity.acknowledged = len(gone)
    now = timezone.now()
    held = [lock for lock in rows.values() if lock and lock > now]
    activity.locked_until = max(held) if held else None
    return activity


# --------------------------------------------------------------------------------- the plan


@dataclass
class PlannedUser:
    old_id: int
    values: dict
    leader: bool


@dataclass
class PlannedReferral:
    old_id: int
    old_status: str
    owner_old_id: int
    values: dict  # Referral field → value
    created_at: datetime | None
    publish: bool  # in flight: its verification is published once
    queued: bool  # a verification task of it is still queued in django_q_ormq


@dataclass
class Plan:
    mapping: Mapping
    users: list[PlannedUser] = field(default_factory=list)
    users_done: int = 0
    leaders: int = 0
    users_skipped: list[tuple[str, str]] = field(default_factory=list)  # (username, why)
    referrals: list[PlannedReferral] = field(default_factory=list)
    referrals_done: int = 0
    referrals_skipped: list[tuple[object, str, str]] = field(
        default_factory=list
    )  # id, cédula, why
    transitions: Counter = field(default_factory=Counter)  # (old, new, "now"|"earlier") → n
    queue: Queue = field(default_factory=Queue)
    failed_tasks: Counter = field(default_factory=Counter)
    schedules: list[ScheduleLine] = field(default_factory=list)
    activity: QueueActivity | None = None
    published: int = 0  # filled by apply()
    imported_users: int = 0
    imported_referrals: int = 0

    @property
    def to_publish(self) -> int:
        return sum(r.publish for r in self.referrals)

    def refusals(self) -> list[str]:
        """Why --apply must not run now; empty when it may."""
        reasons = []
        a = self.activity
        if a and a.added:
            reasons.append(
                f"{a.added} task(s) were queued in django_q_ormq while we watched: the old "
                "portal is still taking work. Freeze it (maintenance page) first."
            )
        if a and a.consumed:
            reasons.append(
                f"the old queue is being consumed: in {a.seconds:g} s {a.taken} task(s) were "
                f"taken, {a.acknowledged} acknowledged"
                + (", results saved in django_q_task" if a.results_saved else "")
                + ". Stop the old qcluster first."
            )
        elif a and a.locked_until:
            reasons.append(
                f"tasks in django_q_ormq are locked by a cluster until "
                f"{a.locked_until:%Y-%m-%d %H:%M:%S %Z}: a qcluster took them and has not "
                "acknowledged them. Stop the old qcluster; once it is stopped Django-Q2 "
                "releases them at that time (its `retry`): run again then."
            )
        if self.queue.undecodable:
            reasons.append(
                f"{len(self.queue.undecodable)} queued task(s) could not be read (first: "
                f"row {self.queue.undecodable[0][0]}: {self.queue.undecodable[0][1]}). Is "
                "CUTOVER_SOURCE_SECRET_KEY the old SECRET_KEY, and [django_q] cluster_name "
                "its Q_CLUSTER name?"
            )
        return reasons


def plan(
    source: SourceDatabase, mapping: Mapping, *, secret_key: str, watch_seconds: float
) -> Plan:
    """Read the old portal and decide what becomes of each row. Writes nothing anywhere."""
    result = Plan(mapping)
    result.activity = watch_queue(source, watch_seconds)
    result.queue = read_queue(source, mapping, secret_key)
    result.failed_tasks = read_failed_tasks(source)
    result.schedules = read_schedules(source, mapping)
    owners = _plan_users(source, mapping, result)
    _plan_referrals(source, mapping, result, owners)
    return result


def _records(mapping: Mapping, kind: str) -> dict[str, CutoverRecord]:
    return {
        r.source_key: r for r in CutoverRecord.objects.filter(source=mapping.source_name, kind=kind)
    }


def _plan_users(source: SourceDatabase, mapping: Mapping, result: Plan) -> set[int]:
    """Plan the users; return the old ids of every user whose referrals can be carried."""
    if mapping.users_table not in source.tables:
        raise CutoverError(f"the source has no table {mapping.users_table!r}")
    present = source.columns(mapping.users_table)
    wanted = [f for f in USER_FIELDS if f in present]
    users = source.rows(
        f"SELECT {', '.join(source.q(f) for f in wanted)} FROM {source.q(mapping.users_table)} "  # noqa: S608 (quoted identifiers)
        "ORDER BY id"
    )
    leaders = _leader_ids(source, mapping)
    done = _records(mapping, CutoverRecord.Kind.USER)
    taken = set(
        User.objects.filter(username__in=[u["username"] for u in users]).values_list(
            "username", flat=True
        )
    )
    owners = set()
    for user in users:
        old_id = user["id"]
        result.leaders += old_id in leaders
        if str(old_id) in done:
            result.users_done += 1
            owners.add(old_id)
            continue
        if user["username"] in taken:
            result.users_skipped.append(
                (user["username"], "a user of that name already exists in this portal")
            )
            continue
        values = {k: v for k, v in user.items() if k != "id"}
        for key in ("date_joined", "last_login"):
            if key in values:
                values[key] = _aware(values[key])
        for key in ("is_active", "is_staff", "is_superuser"):
            if key in values:
                values[key] = bool(values[key])
        result.users.append(PlannedUser(old_id, values, old_id in leaders))
        owners.add(old_id)
    return owners


def _leader_ids(source: SourceDatabase, mapping: Mapping) -> set[int]:
    if not mapping.leader_groups or mapping.group_table not in source.tables:
        return set()
    marks = ", ".join(["%s"] * len(mapping.leader_groups))
    rows = source.rows(
        f"SELECT m.user_id FROM {source.q(mapping.membership_table)} m "  # noqa: S608 (quoted identifiers)
        f"JOIN {source.q(mapping.group_table)} g ON g.id = m.group_id WHERE g.name IN ({marks})",
        mapping.leader_groups,
    )
    return {r["user_id"] for r in rows}


def _plan_referrals(
    source: SourceDatabase, mapping: Mapping, result: Plan, owners: set[int]
) -> None:
    table = mapping.referral_table
    if table not in source.tables:
        raise CutoverError(f"the source has no table {table!r} ([referrals] table)")
    absent = sorted(set(mapping.columns.values()) - source.columns(table))
    if absent:
        raise CutoverError(
            f"the table {table!r} has no column(s) {absent}: fix [referrals.columns] "
            '(a column set to "" is left out)'
        )
    select = ", ".join(
        f"{source.q(col)} AS {source.q(ours)}" for ours, col in mapping.columns.items()
    )
    rows = source.rows(
        f"SELECT {select} FROM {source.q(table)} ORDER BY {source.q(mapping.columns['id'])}"  # noqa: S608 (quoted identifiers)
    )
    done = _records(mapping, CutoverRecord.Kind.REFERRAL)
    queued = result.queue.referral_ids
    seen_ids = set()
    cleaned, invalid = {}, {}
    for row in rows:
        try:
            cleaned[row["id"]] = clean_cedula(str(row["cedula"] or ""))
        except InvalidCedula as exc:
            cleaned[row["id"]] = None
            invalid[row["id"]] = str(exc)
    registered = set(
        Referral.objects.filter(cedula__in=[c for c in cleaned.values() if c]).values_list(
            "cedula", flat=True
        )
    )
    carried_cedulas = {r["cedula"] for r in rows if str(r["id"]) in done}
    limits = {f: Referral._meta.get_field(f).max_length for f in REFERRAL_FIELDS}
    planned_cedulas: set[str] = set()

    for row in rows:
        old_id, old_status = row["id"], str(row["status"] or "")
        seen_ids.add(old_id)
        target = mapping.statuses.get(old_status.upper())
        record = done.get(str(old_id))
        if record is not None:
            result.referrals_done += 1
            new = Status.PENDING if record.published else (target.status if target else "?")
            result.transitions[(old_status, str(new), "earlier")] += 1
            continue

        def skip(why, row=row, old_id=old_id):
            result.referrals_skipped.append((old_id, str(row["cedula"]), why))

        cedula = cleaned[old_id]
        if target is None:
            skip(f"unknown old status {old_status!r}: add it to [statuses]")
            continue
        if cedula is None:
            skip(f"not a valid cédula: {invalid[old_id]}")
            continue
        if row["referred_by"] not in owners:
            skip("its user was not carried over (see the users skipped)")
            continue
        if cedula in planned_cedulas or cedula in carried_cedulas:
            skip("the same cédula as another referral of the old portal")
            continue
        if cedula in registered:
            skip("the cédula is already registered in this portal")
            continue
        too_long = [f for f in REFERRAL_FIELDS if len(str(row.get(f) or "")) > limits[f]]
        if too_long:
            skip(f"too long for this portal: {', '.join(too_long)}")
            continue
        planned_cedulas.add(cedula)
        is_queued = old_id in queued
        publish = target.reverify or is_queued
        values = {f: str(row.get(f) or "").strip() for f in REFERRAL_FIELDS}
        values["cedula"] = cedula
        values["status"] = Status.PENDING if publish else target.status
        values["census_status"] = "" if publish else target.census_status
        result.referrals.append(
            PlannedReferral(
                old_id=old_id,
                old_status=old_status,
                owner_old_id=row["referred_by"],
                values=values,
                created_at=_aware(row.get("created_at")),
                publish=publish,
                queued=is_queued,
            )
        )
        result.transitions[(old_status, values["status"], "now")] += 1

    for task in result.queue.tasks:
        if task.referral_id is not None and task.referral_id not in seen_ids:
            result.referrals_skipped.append(
                (task.referral_id, "", f"queued task {task.task_id}: no such referral in {table}")
            )


# -------------------------------------------------------------------------------- applying


def apply(result: Plan) -> Plan:
    """Write what `result` planned: users first (one transaction), then referrals in batches,
    each verification published once its batch commits."""
    if reasons := result.refusals():
        raise CutoverRefused("\n".join(reasons))
    mapping = result.mapping
    with transaction.atomic():
        team = Team.objects.filter(name=mapping.team).order_by("pk").first()
        if team is None and result.users:
            team = Team.objects.create(name=mapping.team)
        for planned in result.users:
            user = User(**planned.values)  # the old password hash, as it was
            user.save()
            role = Role.LEADER if planned.leader else mapping.other_role
            Membership.objects.create(user=user, role=role, team=team)
            CutoverRecord.objects.create(
                source=mapping.source_name,
                kind=CutoverRecord.Kind.USER,
                source_key=str(planned.old_id),
                target_id=user.pk,
            )
            result.imported_users += 1
    owner_ids = {
        int(r.source_key): r.target_id
        for r in CutoverRecord.objects.filter(
            source=mapping.source_name, kind=CutoverRecord.Kind.USER
        )
    }
    pending = list(result.referrals)
    for start in range(0, len(pending), BATCH_SIZE):
        with transaction.atomic():
            for planned in pending[start : start + BATCH_SIZE]:
                _carry_referral(planned, owner_ids[planned.owner_old_id], result)
    return result


def _carry_referral(planned: PlannedReferral, owner_id: int, result: Plan) -> None:
    mapping = result.mapping
    try:
        with transaction.atomic():  # a savepoint: a cédula registered meanwhile skips one row
            referral = Referral.objects.create(referred_by_id=owner_id, **planned.values)
            if planned.created_at:
                Referral.objects.filter(pk=referral.pk).update(created_at=planned.created_at)
            CutoverRecord.objects.create(
                source=mapping.source_name,
                kind=CutoverRecord.Kind.REFERRAL,
                source_key=str(planned.old_id),
                target_id=referral.pk,
                old_status=planned.old_status,
                published=planned.publish,
            )
    except IntegrityError:
        result.referrals_skipped.append(
            (planned.old_id, planned.values["cedula"], "registered in this portal meanwhile")
        )
        return
    result.imported_referrals += 1
    if planned.publish:
        services.enqueue_verification(referral.pk)  # on the batch's commit
        result.published += 1


# ---------------------------------------------------------------------------------- report


def report(result: Plan, *, applied: bool) -> str:
    """What was (or would be) done, and what the operator must still do."""
    will = "" if applied else " (dry run: nothing written)"
    out = [f"Cut-over from {result.mapping.source_name}{will}", ""]
    out.append("Users")
    if applied:
        out.append(f"  imported now: {result.imported_users}")
    else:
        out.append(f"  to import: {len(result.users)}")
    out.append(f"  carried over earlier: {result.users_done}")
    mapping = result.mapping
    out.append(f"  leaders (old groups {mapping.leader_groups} → role leader): {result.leaders}")
    out.append(f"  other users → role {mapping.other_role}; all in team {mapping.team!r}")
    for username, why in result.users_skipped:
        out.append(f"  skipped {username}: {why}")
    out += ["", "Referrals: old status → new status (now / carried over earlier)"]
    keys = sorted({(old, new) for old, new, _ in result.transitions})
    for old, new in keys:
        now = result.transitions[(old, new, "now")]
        earlier = result.transitions[(old, new, "earlier")]
        out.append(f"  {old:>20} → {new:<10} {now:>6} / {earlier}")
    imported = result.imported_referrals if applied else len(result.referrals)
    out.append(f"  {'imported now' if applied else 'to import'}: {imported}; "
               f"carried over earlier: {result.referrals_done}")  # fmt: skip
    queued_in_flight = sum(r.queued for r in result.referrals)
    published = result.published if applied else result.to_publish
    out.append(
        f"  verifications {'published' if applied else 'to publish'}: {published} "
        f"({queued_in_flight} of them for a task still queued in django_q_ormq)"
    )
    out.append(f"  skipped: {len(result.referrals_skipped)}")
    for old_id, cedula, why in result.referrals_skipped:
        out.append(f"    id {old_id} cédula {cedula or '-'}: {why}")
    out += ["", "Django-Q2 queue (django_q_ormq)"]
    funcs = Counter(t.func for t in result.queue.tasks)
    for func, n in sorted(funcs.items()):
        carried = "verification" if func in result.mapping.verify_funcs else "not carried over"
        out.append(f"  {n} × {func}: {carried}")
    for row_id, why in result.queue.undecodable:
        out.append(f"  row {row_id} unreadable: {why}")
    if result.failed_tasks:
        out.append("  failed tasks in django_q_task (their referrals go by their status):")
        for func, n in sorted(result.failed_tasks.items()):
            out.append(f"    {n} × {func}")
    out += ["", "Django-Q2 schedules → beat entries (project/settings/ops.py)"]
    for line in result.schedules or []:
        target = line.beat_entry or "NONE: no beat entry replaces it"
        out.append(f"  {line.name or '-'} ({line.func}, {line.every}) → {target}")
    if not result.schedules:
        out.append("  none")
    a = result.activity
    if a:
        out += ["", f"Old queue watched for {a.seconds:g} s: {a.taken} taken, "
                f"{a.acknowledged} acknowledged, {a.added} added"]  # fmt: skip
    out += ["", "Still to do"]
    refusals = result.refusals()
    for reason in refusals:
        out.append(f"  - {'apply would be refused' if not applied else 'REFUSED'}: {reason}")
    if not applied:
        out.append("  - run again with --apply")
    out.append(
        "  - keep the old qcluster stopped and start this portal's workers: "
        "the verifications wait in the `scraping` queue"
    )
    if any(not line.beat_entry for line in result.schedules):
        out.append("  - schedules without a beat entry: port them or drop them (docs/CUTOVER.md)")
    return "\n".join(out)
