"""Logs (text or JSON) and optional error tracking."""

from django.core.exceptions import ImproperlyConfigured

from .env import env

LOG_FORMAT = env("LOG_FORMAT", default="text")
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# Off under honcho (make run / make demo), which stamps every line with its own clock.
LOG_TIMESTAMPS = env.bool("LOG_TIMESTAMPS", default=True)
_TEXT = ("%(asctime)s " if LOG_TIMESTAMPS else "") + "%(levelname)s %(name)s %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": _TEXT},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "filters": {
        "redact": {"()": "project.redaction.RedactingFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "routine_at_debug": {"()": "project.logfilters.RoutineAtDebug"},
        "forbidden_without_traceback": {"()": "project.logfilters.ForbiddenWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["redact", "routine_at_debug", "forbidden_without_traceback"],
        },
        "mail_admins": {
            "level": "ERROR",
            "filters": ["require_debug_false"],
            "class": "django.utils.log.AdminEmailHandler",
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # HTTP clients log every request URL at INFO, the solver's API key in its query.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # Through the one console handler and its filters (Django's defaults add their own
        # handlers: a second copy of each line under DEBUG, and runserver's unfiltered log).
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# Optional error tracking, when the sentry extra is installed.
SENTRY_DSN = env("SENTRY_DSN", default="")
if SENTRY_DSN:
    try:
        import sentry_sdk
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        raise ImproperlyConfigured("SENTRY_DSN is set: install the sentry extra") from None
    from project.redaction import scrub_event

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,  # performance events carry URLs and names too
        send_default_pii=False,
    )
