"""Ops: the beat jobs and their periods, the stale sweep, alerts for on-call, links."""

from pipeline import dispatch

from .env import duration, env
from .integrations import WEBHOOK_SWEEP_EVERY
from .privacy import RETENTION_PURGE_EVERY

# A referral in flight without progress for this long, and with no task left for it, is re-queued
# (at most STALE_MAX_REQUEUES times) and then flagged "delayed" and reported in a digest.
STALE_AFTER = duration("STALE_AFTER", "30m")
STALE_SWEEP_EVERY = duration("STALE_SWEEP_EVERY", "5m")
STALE_MAX_REQUEUES = env.int("STALE_MAX_REQUEUES", default=2)
# Alert when more than this share of the last hour's attempts failed (and again on recovery).
FAILURE_RATE_ALERT = env.float("FAILURE_RATE_ALERT", default=0.2)
FAILURE_RATE_MIN_ATTEMPTS = env.int("FAILURE_RATE_MIN_ATTEMPTS", default=10)
FAILURE_RATE_EVERY = duration("FAILURE_RATE_EVERY", "5m")
BEAT_HEARTBEAT_EVERY = duration("BEAT_HEARTBEAT_EVERY", "30s")
CAPTCHA_POOL_TOP_UP_EVERY = duration("CAPTCHA_POOL_TOP_UP_EVERY", "10s")
CAPTCHA_SPEND_CHECK_EVERY = duration("CAPTCHA_SPEND_CHECK_EVERY", "5m")
# Public base URL of the portal (links in alerts) and of Flower (links on the dashboard).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
FLOWER_URL = env("FLOWER_URL", default="http://127.0.0.1:5555")
# Flower's `user:password[,user2:password2]` (project/flower.py refuses to start without it
# outside DEBUG) and the local stack's ports (project/ready.py's banner; the Procfile's too).
FLOWER_BASIC_AUTH = env("FLOWER_BASIC_AUTH", default="")
WEB_PORT = env.int("WEB_PORT", default=8000)
FLOWER_PORT = env.int("FLOWER_PORT", default=5555)
# The drift canary: how often each census page is loaded (never submitted) and checked for what
# the client relies on (ops/canary.py).
CENSUS_CANARY_EVERY = duration("CENSUS_CANARY_EVERY", "30m")


def _every(task: str, seconds: float) -> dict:
    # A late run is dropped, not piled up: each job's message expires after one period.
    return {"task": task, "schedule": seconds, "options": {"expires": seconds}}


CELERY_BEAT_SCHEDULE = {
    "sweep-stale-referrals": _every(dispatch.SWEEP_STALE_REFERRALS, STALE_SWEEP_EVERY),
    "check-failure-rate": _every(dispatch.CHECK_FAILURE_RATE, FAILURE_RATE_EVERY),
    "check-circuit": _every(dispatch.CHECK_CIRCUIT, FAILURE_RATE_EVERY),
    "top-up-captcha-pool": _every(dispatch.TOP_UP_CAPTCHA_POOL, CAPTCHA_POOL_TOP_UP_EVERY),
    "check-captcha-spend": _every(dispatch.CHECK_CAPTCHA_SPEND, CAPTCHA_SPEND_CHECK_EVERY),
    "beat-heartbeat": _every(dispatch.BEAT_HEARTBEAT, BEAT_HEARTBEAT_EVERY),
    "sweep-webhooks": _every(dispatch.SWEEP_WEBHOOKS, WEBHOOK_SWEEP_EVERY),
    "probe-census-sources": _every(dispatch.PROBE_CENSUS_SOURCES, CENSUS_CANARY_EVERY),
    "purge-personal-data": _every(dispatch.PURGE_PERSONAL_DATA, RETENTION_PURGE_EVERY),
}

# --- Alerts for on-call -----------------------------------------------------------------------
# Apprise URLs (mailto://, slack://, pagerduty://, json://host/path ...), comma-separated.
ALERT_URLS = env.list("ALERT_URLS", default=[])
# The same incident (same key) pages once within this window.
ALERT_DEDUP_SECONDS = env.int("ALERT_DEDUP_SECONDS", default=3600)
ADMINS = [(email, email) for email in env.list("ADMINS", default=[])]
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
SERVER_EMAIL = DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="cedula-verify@localhost")
