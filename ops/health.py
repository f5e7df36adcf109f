"""Health endpoints for load balancers and compose: no login, no secrets, JSON bodies."""

import time

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .monitoring import pipeline_health, progress_checks


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    return "ok"


@never_cache
@require_GET
def readyz(request):
    """Dependencies reachable: the database and Redis. 503 when any is not."""
    checks = {}
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            checks[name] = check()
        except Exception as exc:  # each dependency fails in its own way; report, don't raise
            checks[name] = f"error: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "error", "checks": checks}, status=200 if ready else 503
    )


# /healthz/pipeline is public: its answer is computed at most this often per web process
# (two Redis reads, no broadcast to the workers), so a busy monitor cannot tie up the web.
PIPELINE_HEALTH_CACHE_SECONDS = 5.0
_cached: tuple[float, dict[str, str]] | None = None


def clear_cache() -> None:
    """Forget the cached answer: the next request computes it afresh."""
    global _cached
    _cached = None


def _pipeline_checks() -> dict[str, str]:
    global _cached
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < PIPELINE_HEALTH_CACHE_SECONDS:
        return _cached[1]
    try:
        checks = pipeline_health()
    except Exception as exc:  # Redis down: the heartbeats cannot be read
        checks = {"broker": f"error: {type(exc).__name__}"}
    try:
        checks.update(progress_checks())
    except Exception as exc:  # Redis or the database down: progress cannot be judged
        checks["progress"] = f"error: {type(exc).__name__}"
    _cached = (now, checks)
    return checks


@never_cache
@require_GET
def pipeline(request):
    """For an outside monitor: beat alive and a worker on every queue. 503 when not. Not for
    the load balancer or compose (a stopped worker is no reason to restart the web). The
    status is public; which check failed, and why, is for staff only."""
    body = pipeline_verdict(_pipeline_checks())
    if not (request.user.is_authenticated and request.user.is_staff):
        body = {"status": body["status"]}
    return JsonResponse(body, status=200 if body["status"] == "ok" else 503)


def pipeline_verdict(checks: dict[str, str]) -> dict:
    """`error` when a part is down, `degraded` when all run but no progress can be made (the
    reasons say why), else `ok`. Both non-ok answers are 503: a monitor must see them."""
    failing = {name: value for name, value in checks.items() if value != "ok"}
    if any(value.startswith("error") for value in failing.values()):
        status = "error"
    elif failing:
        status = "degraded"
    else:
        status = "ok"
    return {
        "status": status,
        "checks": checks,
        "reasons": [f"{name}: {value}" for name, value in failing.items()],
    }
