"""Health figures for ops: failure rate, beat heartbeat, and the dashboard's numbers."""

import time
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, Min, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from . import broker
from .alerts import raise_alert
from .connections import redis_client
from .models import Referral, ScrapeAttempt, Status
from .verification import circuit_breaker

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
        return "recovered"
    return "breach-ongoing" if breached else "ok"


def record_heartbeat(at: float) -> None:
    redis_client().set(HEARTBEAT_KEY, at)


def last_heartbeat() -> float | None:
    value = redis_client().get(HEARTBEAT_KEY)
    return float(value) if value is not None else None


def pipeline_health(ping_timeout: float = 1.0) -> dict[str, str]:
    """What an outside monitor needs to know that the pipeline would page nobody if it stopped:
    beat (and the default worker that runs its heartbeat) alive, and a worker on every queue.
    Every check here runs *from* beat; only something outside can tell that beat is gone."""
    from project.celery import app

    checks = {}
    heartbeat = last_heartbeat()
    limit = max(3 * settings.BEAT_HEARTBEAT_EVERY, 90)
    if heartbeat is None:
        checks["beat"] = "error: no heartbeat yet"
    elif (age := time.time() - heartbeat) > limit:
        checks["beat"] = f"error: last heartbeat {age:.0f} s ago"
    else:
        checks["beat"] = "ok"
    replies = app.control.inspect(timeout=ping_timeout).active_queues() or {}
    consumed = {queue["name"] for queues in replies.values() for queue in queues}
    from .captcha_pool import enabled as captcha_pool_enabled

    needed = [q for q in broker.QUEUES if q != "captcha" or captcha_pool_enabled()]
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
    return {
        "counts": counts,
        "total": sum(by_status.values()),
        "verified": verified,
        "in_flight": pending,
        "flagged": Referral.objects.filter(stale_flagged_at__isnull=False)
        .filter(status__in=Status.in_flight())
        .count(),
        "hours": hours,
        "failed_last_hour": failed,
        "finished_last_hour": finished,
        "failure_rate": failed / finished if finished else None,
        "circuit": circuit_breaker().status(),
        "queues": queues,
        "heartbeat_age": time.time() - heartbeat if heartbeat else None,
        "oldest_in_flight": oldest["m"],
    }
