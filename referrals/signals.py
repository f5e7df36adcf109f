"""Celery signal handlers (filled by the pipeline)."""
