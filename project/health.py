"""Health endpoints for load balancers and compose: no login, no secrets, JSON bodies."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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


@never_cache
@require_GET
def pipeline(request):
    """For an outside monitor: beat alive and a worker on every queue. 503 when not. Not for
    the load balancer or compose (a stopped worker is no reason to restart the web)."""
    from referrals.monitoring import pipeline_health

    try:
        checks = pipeline_health()
    except Exception as exc:  # Redis down: the broker cannot be asked
        checks = {"broker": f"error: {type(exc).__name__}"}
    ok = all(v == "ok" for v in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503
    )
