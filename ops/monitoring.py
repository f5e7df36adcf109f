"""Health figures for ops: failure rate, beat heartbeat, and the dashboard's numbers."""

import time
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from pipeline import broker, captcha_pool
from pipeline.dispatch import Queue
from pipeline.egress import source_states
from project.connections import redis_client
from referrals.models import Referral, ScrapeAttempt, Status

from .alerts import raise_alert, resolve_alerts
from .canary import last_probes

HEARTBEAT_KEY = "beat:heartbeat"
BREACH_KEY = "alerts:failure-rate:breach"
FAILED_OUTCOMES = [
    ScrapeAttempt.Outcome.RETRY,
    ScrapeAttempt.Outcome.FAILED,
    ScrapeAttempt.Outcome.BLOCKED,
]


def failure_rate(window: timedelta = timedelta(hours=1)) -> tuple[int, int]:
    """(failed, finished) attempts that started within `window`."""
    counts = ScrapeAttempt.objects.filter(started_at__gte=timezone.now() - window).aggregate(
        finished=Count("pk", filter=~Q(outcome=ScrapeAttempt.Outcome.RUNNING)),
        failed=Count("pk", filter=Q(outcome__in=FAILED_OUTCOMES)),
    )
    return counts["failed"], counts["finished"]


def check_failure_rate() -> str:
    """Alert once when the last hour's failure rate crosses the threshold, once on recovery."""
    failed, finished = failure_rate()
    rate = failed / finished if finished else 0.0
    breached = finished >= settings.FAILURE_RATE_MIN_ATTEMPTS and rate > settings.FAILURE_RATE_ALERT
    client = redis_client()
    breach_started = client.get(BREACH_KEY)
    if breached and breach_started is None:
        started = str(int(time.time()))
        client.set(BREACH_KEY, started)
        raise_alert(
            f"failure-rate:{started}",
            f"Tasa de fallos alta: {rate:.0%} en la última hora",
            f"{failed} of {finished} lookups failed in the last hour (threshold "
            f"{settings.FAILURE_RATE_ALERT:.0%}). Check Flower and the ops dashboard.",
        )
        return "breach"
    if not breached and breach_started is not None:
        client.delete(BREACH_KEY)
        raise_alert(
            f"failure-rate-recovered:{breach_started.decode()}",
            f"Tasa de fallos normal: {rate:.0%} en la última hora",
            f"{failed} of {finished} lookups failed in the last hour; back under "
            f"{settings.FAILURE_RATE_ALERT:.0%}.",
        )
        resolve_alerts("failure-rate", "failure-rate-recovered")
        return "recovered"
    return "breach-ongoing" if breached else "ok"


def record_heartbeat(at: float) -> None:
    redis_client().set(HEARTBEAT_KEY, at)


def last_heartbeat() -> float | None:
    value = redis_client().get(HEARTBEAT_KEY)
    return float(value) if value is not None else None


def queue_consumers() -> dict[str, int]:
    """How many live workers consume each queue, from their heartbeats in Redis
    (pipeline.broker): no broadcast to every worker per request or scrape."""
    counts: dict[str, int] = {}
    for beat in broker.live_workers().values():
        for queue in beat.get("queues", ()):
            counts[queue] = counts.get(queue, 0) + 1
    return counts


def check_circuit(now: float | None = None) -> str:
    """A block that lasts pages again on an escalating schedule (1 h, 4 h, 24 h, then daily),
    once per step of each opening of each source's circuit, until it ends."""
    return "; ".join(
        f"{source}: {_check_source_circuit(source, status, now)}"
        for source, status in source_states()
    )


def _check_source_circuit(source: str, status, now: float | None) -> str:
    if status.state == "closed" or status.opened_at is None:
        return "closed"
    age = (time.time() if now is None else now) - status.opened_at
    steps = list(settings.CIRCUIT_REALERT_AFTER)
    passed = [s for s in steps if age >= s]
    if age >= steps[-1]:
        passed.append(steps[-1] + int((age - steps[-1]) // 86400) * 86400)
    if not passed:
        return f"open {age:.0f} s"
    step = passed[-1]
    raise_alert(
        f"circuit-still-open:{source}:{status.opened_at:.0f}:{step}",
        f"{source}: circuito abierto desde hace {age / 3600:.0f} h",
        f"The circuit breaker of {source} opened {age / 3600:.1f} h ago ({status.reason}) and "
        "is still "
        f"open; {Referral.objects.filter(status=Status.BLOCKED).count()} referrals are blocked "
        "and wait for it to close (they go back to the queue then).",
    )
    return f"open {age:.0f} s, alerted at step {step} s"


def pipeline_health() -> dict[str, str]:
    """What an outside monitor needs to know that the pipeline would page nobody if it stopped:
    beat (and the default worker that runs its heartbeat) alive, and a worker on every queue.
    Every check here runs *from* beat; only something outside can tell that beat is gone."""
    checks = {}
    heartbeat = last_heartbeat()
    limit = max(3 * settings.BEAT_HEARTBEAT_EVERY, 90)
    if heartbeat is None:
        checks["beat"] = "error: no heartbeat yet"
    elif (age := time.time() - heartbeat) > limit:
        checks["beat"] = f"error: last heartbeat {age:.0f} s ago"
    else:
        checks["beat"] = "ok"
    consumed = set(queue_consumers())
    needed = [q for q in Queue if q != Queue.CAPTCHA or captcha_pool.enabled()]
    for queue in needed:
        checks[f"queue {queue}"] = "ok" if queue in consumed else "error: no worker consumes it"
    return checks


def dashboard_figures() -> dict:
    now = timezone.now()
    by_status = dict(
        Referral.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    counts = [(s, label, by_status.get(s, 0)) for s, label in Status.choices]
    verified = by_status.get(Status.VERIFIED, 0)
    pending = sum(by_status.get(s, 0) for s in Status.in_flight())
    since = now - timedelta(hours=24)
    hourly = {
        row["hour"]: row
        for row in ScrapeAttempt.objects.filter(started_at__gte=since)
        .annotate(hour=TruncHour("started_at"))
        .values("hour")
        .annotate(
            attempts=Count("pk"),
            failed=Count("pk", filter=Q(outcome__in=FAILED_OUTCOMES)),
        )
    }
    hours = []
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    for i in range(24):
        hour = start + timedelta(hours=i)
        row = hourly.get(hour, {"attempts": 0, "failed": 0})
        hours.append({"hour": hour, "attempts": row["attempts"], "failed": row["failed"]})
    failed, finished = failure_rate()
    oldest = Referral.objects.filter(status__in=Status.in_flight()).aggregate(m=Min("created_at"))
    heartbeat = last_heartbeat()
    try:
        queues = broker.queue_lengths()
    except redis.RedisError:
        queues = None
    sources = source_figures()
    return {
        "counts": counts,
        "total": sum(by_status.values()),
        "verified": verified,
        "in_flight": pending,
        "flagged": Referral.objects.filter(stale_flagged_at__isnull=False).count(),
        "hours": hours,
        "failed_last_hour": failed,
        "finished_last_hour": finished,
        "failure_rate": failed / finished if finished else None,
        "circuit": (circuit := sources[0]["circuit"]),
        "circuit_age": time.time() - circuit.opened_at if circuit.opened_at else None,
        "sources": sources,
        "queues": queues,
        "heartbeat_age": time.time() - heartbeat if heartbeat else None,
        "oldest_in_flight": oldest["m"],
    }


def source_figures() -> list[dict]:
    """Each census source for /ops/: its circuit, how long it has been open, and what the drift
    canary last saw of its page."""
    probes = last_probes()
    figures = []
    for source, status in source_states():
        figures.append(
            {
                "name": source,
                "circuit": status,
                "age": time.time() - status.opened_at if status.opened_at else None,
                "canary": probes.get(source),
            }
        )
    return figures


def progress_checks() -> dict[str, str]:
    """Can the pipeline make progress? Workers alive is not enough: with the circuit open, the
    solver refusing or the oldest work stuck past STALE_AFTER, nothing gets verified. Each value
    is "ok" or "degraded: <reason>"."""
    from .pause import verification_pause

    checks = {}
    pause = verification_pause()
    states = source_states()
    if all(status.state == "open" for _, status in states):
        circuit = states[0][1]
        checks["circuit"] = (
            f"degraded: open on every source ({circuit.reason}); "
            f"{min(status.seconds_left for _, status in states):.0f} s of cool-down left"
        )
    else:
        checks["circuit"] = "ok"  # a source is usable: lookups go on (/ops/ shows which)
    if pause is not None and pause.cause == "solver":
        checks["captcha solver"] = f"degraded: unavailable ({pause.detail})"
    else:
        checks["captcha solver"] = "ok"
    stuck_since = timezone.now() - timedelta(seconds=settings.STALE_AFTER)
    oldest = Referral.objects.filter(status__in=Status.in_flight()).aggregate(m=Min("updated_at"))
    if oldest["m"] is not None and oldest["m"] < stuck_since:
        age = (timezone.now() - oldest["m"]).total_seconds()
        checks["oldest work"] = (
            f"degraded: a referral in flight has not moved for {age:.0f} s "
            f"(STALE_AFTER {settings.STALE_AFTER:.0f} s)"
        )
    else:
        checks["oldest work"] = "ok"
    return checks


def alerts_panel(limit: int = 20) -> dict:
    """The alerts on /ops/: open incidents first (oldest first: the longest is the worst),
    then the latest resolved ones; and whether any channel would carry them at all."""
    from .alerts import channels_configured
    from .models import Alert

    open_alerts = list(
        Alert.objects.filter(resolved_at__isnull=True).order_by("created_at")[:limit]
    )
    resolved = list(Alert.objects.filter(resolved_at__isnull=False).order_by("-created_at")[:5])
    return {
        "open": open_alerts,
        "resolved": resolved,
        "channels_configured": channels_configured(),
        "undelivered": Alert.objects.filter(delivered_at__isnull=True).count(),
    }


def work_figures() -> dict | None:
    """Work per queue (waiting, held by workers, scheduled for later) and in total."""
    try:
        per_queue = broker.work_counts()
    except redis.RedisError:
        return None
    totals = {
        kind: sum(q[kind] for q in per_queue.values())
        for kind in ("waiting", "held", "scheduled", "total")
    }
    return {"queues": per_queue, "totals": totals}
