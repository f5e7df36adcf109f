"""The Celery application. All configuration lives in Django settings (CELERY_ namespace)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# Celery's Django fix-up runs every Django system check when a worker or beat boots, and throws
# the result away: 0.4 CPU-s of a 0.9 CPU-s boot (the URLconf, the admin, the API schema), for
# nothing. The checks a worker must refuse to start on run in pipeline.signals instead.
os.environ.setdefault("CELERY_SKIP_CHECKS", "1")

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
