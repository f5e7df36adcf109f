"""Settings of the legacy Django-Q2 portal (tests only)."""

import environ

from tests.legacy_portal import CLUSTER_NAME, SECRET_KEY  # noqa: F401

DEBUG = False
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_q",
    "tests.legacy_portal.apps.LegacyPortalConfig",
]
DATABASES = {"default": environ.Env().db("LEGACY_DATABASE_URL")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The plan's SQLite set-up: WAL, a busy timeout.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL;PRAGMA busy_timeout=5000;"
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
Q_CLUSTER = {
    "name": CLUSTER_NAME,
    "orm": "default",  # the ORM broker: django_q_ormq in the same database
    "workers": 1,
    "timeout": 20,
    "retry": 30,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.2,
}
LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
}
