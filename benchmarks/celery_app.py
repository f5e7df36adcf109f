"""The project's Celery app plus the benchmark task: `celery -A benchmarks.celery_app worker`."""

import benchmarks.tasks  # noqa: F401  (registers the benchmark tasks and their prerun hook)
from project.celery import app

__all__ = ["app"]
