"""Django settings for cedula-verify.

Every value that differs between machines comes from the environment (django-environ); the
README lists each variable with its default. Defaults are the embedded, single-machine ones
(SQLite in WAL mode, Redis on localhost). `DEBUG` is off unless asked for: production is the
default, and production without a SECRET_KEY refuses to start.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.utils.time import rate
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def duration(name: str, default: str) -> float:
    """A duration setting in seconds: `90`, `90s`, `30m`, `2h` or `1d`."""
    text = env(name, default=default).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except (ValueError, IndexError):
        raise ImproperlyConfigured(
            f"{name} must be a duration like 90s, 30m or 2h: {text!r}"
        ) from None


DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="insecure-dev-key-only-for-DEBUG-mode")
else:
    try:
        SECRET_KEY = env("SECRET_KEY")
    except ImproperlyConfigured:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DEBUG off it must come from the environment "
            "(for a local stack run `make run`, which turns DEBUG on)."
        ) from None

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_results",
    "django_htmx",
    "accounts",
    "referrals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# Default: one SQLite file. WAL lets readers go on while one writer writes; IMMEDIATE
# transactions take the write lock up front, so two writers queue on busy_timeout instead of
# failing with "database is locked" when a read transaction tries to upgrade (the Django-Q2
# plan's failure). `timeout` is sqlite3's busy timeout in seconds.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        "init_command": (
            "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA foreign_keys=ON;"
        ),
    }
    # Tests start real worker processes: they need a file, not an in-memory database.
    DATABASES["default"]["TEST"] = {
        "NAME": env("SQLITE_TEST_DB", default=str(BASE_DIR / "db-test.sqlite3"))
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "referrals:list"
LOGOUT_REDIRECT_URL = "login"

# --- Log-in brute force: django-axes (the whole configuration is this block) ----------------
# Failed log-ins (portal and admin, both go through authenticate()) are counted per username
# *and* client address; at AXES_FAILURE_LIMIT failures that pair is locked out for
# AXES_COOLOFF_MINUTES, and even the right password is refused with a Spanish page (429).
# The address is REMOTE_ADDR only (axes' default): X-Forwarded-For is not trusted, so it cannot
# be forged to dodge the lock. Tests run with AXES_ENABLED=0 (pyproject) and turn it on where
# they exercise it.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes requires
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out pairs before any check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"

# --- Internationalisation: Spanish (Colombia) first, Bogotá time --------------------------------
LANGUAGE_CODE = "es-co"
LANGUAGES = [("es-co", "Español"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "America/Bogota"
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production serves hashed, compressed files collected by `collectstatic`. The local stack and
# the tests (STATIC_MANIFEST=0) serve them straight from the app folders.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=not DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST

# --- Security (production defaults whenever DEBUG is off) ------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Redis and Celery -----------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")

CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_DEFAULT_QUEUE = "default"
# Scraping runs on its own queue and workers (-Q scraping -c 1): a rate-limited task waiting for
# its slot must not hold up housekeeping, and rate limits are per worker instance.
CELERY_TASK_ROUTES = {
    "referrals.tasks.verify_referral": {"queue": "scraping"},
    # Captcha solves wait 20-45 s on the solving service: their own queue and worker (threads).
    "referrals.tasks.solve_captcha_token": {"queue": "captcha"},
}
# Long tasks: take one message at a time, so a waiting message is never stuck behind a busy one.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
# Flower needs events from workers and "sent" events from producers.
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_SEND_SENT_EVENT = True
# Redis redelivers any unacknowledged message (late ack, ETA or countdown) older than this; it
# must stay above the longest countdown and time limit we use (checked at start-up, see
# referrals/checks.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    # How often a worker looks for messages to restore (a dead worker's unacknowledged ones).
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_EVERY", default=60),
    "unacked_restore_throttle": 1,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Verification pipeline: the scraping queue's one settings block --------------------------
# The polite rate towards the site, as Celery writes rates ("12/m" = one lookup every 5 s). It is
# the task's own rate_limit (per worker) and the global gap in Redis (every worker together).
SCRAPING_RATE_LIMIT = env("SCRAPING_RATE_LIMIT", default="12/m")
SCRAPING_MIN_INTERVAL = 1.0 / rate(SCRAPING_RATE_LIMIT)


# Workers behind one egress address share one limiter and one circuit breaker.
def _proxy_address(url: str) -> str:
    """host:port of a proxy URL: its password must not end up in Redis key names."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.hostname else url


SCRAPING_LIMITER_KEY = env("SCRAPING_LIMITER_KEY", default="") or _proxy_address(
    env("SCRAPING_PROXY", default="direct")
)
# How long a task waits in-process for its slot before deferring itself with a countdown.
SCRAPING_SLOT_MAX_WAIT = env.float("SCRAPING_SLOT_MAX_WAIT", default=30.0)
SCRAPING_MAX_RETRIES = env.int("SCRAPING_MAX_RETRIES", default=5)
SCRAPING_RETRY_BACKOFF_MAX = env.int("SCRAPING_RETRY_BACKOFF_MAX", default=600)
# Hard limit kills the pool child; the soft limit comes first and is treated as a hung page.
SCRAPING_TASK_TIME_LIMIT = env.int("SCRAPING_TASK_TIME_LIMIT", default=180)
SCRAPING_TASK_SOFT_TIME_LIMIT = max(
    1, SCRAPING_TASK_TIME_LIMIT - max(5, SCRAPING_TASK_TIME_LIMIT // 6)
)
# Every other task (housekeeping, alerts) takes seconds: a generous bound all the same.
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
# A claim older than this belongs to a run that is surely dead (the hard limit killed it).
SCRAPING_CLAIM_LEASE = SCRAPING_TASK_TIME_LIMIT + 10
CIRCUIT_COOLDOWN = env.int("CIRCUIT_COOLDOWN", default=900)
CIRCUIT_FAILURE_THRESHOLD = env.int("CIRCUIT_FAILURE_THRESHOLD", default=5)

# --- Captcha token pool: tokens solved ahead, off the scraping worker ------------------------
# Ready tokens kept at most (also never more than the site rate can spend before they expire,
# nor more than the backlog needs); 0 turns the pool off and every lookup solves inline.
CAPTCHA_POOL_SIZE_MAX = env.int("CAPTCHA_POOL_SIZE_MAX", default=10)
# Solves running at once for the pool (solves take 20-45 s: to keep up with a rate of r lookups
# a second, this must be at least r x solve time, e.g. 12/m x 45 s = 9).
CAPTCHA_SOLVER_CONCURRENCY = env.int("CAPTCHA_SOLVER_CONCURRENCY", default=10)
CAPTCHA_POOL_TOP_UP_EVERY = duration("CAPTCHA_POOL_TOP_UP_EVERY", "10s")
# Alert when more than this share of the last hour's pool tokens expired unused (with at least
# CAPTCHA_WASTE_MIN_TOKENS of them), or when the solver's balance falls below this (USD).
CAPTCHA_WASTE_ALERT = env.float("CAPTCHA_WASTE_ALERT", default=0.1)
CAPTCHA_WASTE_MIN_TOKENS = env.int("CAPTCHA_WASTE_MIN_TOKENS", default=10)
CAPTCHA_LOW_BALANCE_USD = env.float("CAPTCHA_LOW_BALANCE_USD", default=5.0)
CAPTCHA_SPEND_CHECK_EVERY = duration("CAPTCHA_SPEND_CHECK_EVERY", "5m")

# --- Ops: beat jobs, dashboard, Flower --------------------------------------------------------
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
# Public base URL of the portal (links in alerts) and of Flower (links on the dashboard).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
FLOWER_URL = env("FLOWER_URL", default="http://127.0.0.1:5555")

CELERY_BEAT_SCHEDULE = {
    "sweep-stale-referrals": {
        "task": "referrals.tasks.sweep_stale_referrals",
        "schedule": STALE_SWEEP_EVERY,
        "options": {"expires": STALE_SWEEP_EVERY},  # a late run is dropped, not piled up
    },
    "check-failure-rate": {
        "task": "referrals.tasks.check_failure_rate",
        "schedule": FAILURE_RATE_EVERY,
        "options": {"expires": FAILURE_RATE_EVERY},
    },
    "top-up-captcha-pool": {
        "task": "referrals.tasks.top_up_captcha_pool",
        "schedule": CAPTCHA_POOL_TOP_UP_EVERY,
        "options": {"expires": CAPTCHA_POOL_TOP_UP_EVERY},
    },
    "check-captcha-spend": {
        "task": "referrals.tasks.check_captcha_spend",
        "schedule": CAPTCHA_SPEND_CHECK_EVERY,
        "options": {"expires": CAPTCHA_SPEND_CHECK_EVERY},
    },
    "beat-heartbeat": {
        "task": "referrals.tasks.beat_heartbeat",
        "schedule": BEAT_HEARTBEAT_EVERY,
        "options": {"expires": BEAT_HEARTBEAT_EVERY},
    },
}

# --- Alerts for on-call -----------------------------------------------------------------------
# Apprise URLs (mailto://, slack://, pagerduty://, json://host/path ...), comma-separated.
ALERT_URLS = env.list("ALERT_URLS", default=[])
# The same incident (same key) pages once within this window.
ALERT_DEDUP_SECONDS = env.int("ALERT_DEDUP_SECONDS", default=3600)
ADMINS = [(email, email) for email in env.list("ADMINS", default=[])]
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
SERVER_EMAIL = DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="cedula-verify@localhost")

# Optional error tracking, when the sentry extra is installed.
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        raise ImproperlyConfigured("SENTRY_DSN is set: install the sentry extra") from None
    sentry_sdk.init(dsn=SENTRY_DSN, integrations=[DjangoIntegration(), CeleryIntegration()])

# --- Logging --------------------------------------------------------------------------------
LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
