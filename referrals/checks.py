"""System checks (filled by the pipeline: Celery-on-Redis timing consistency)."""
