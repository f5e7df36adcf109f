from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "pipeline"
    verbose_name = "Verification pipeline"

    def ready(self):
        from project.celery import app

        from . import checks, heartbeat, signals  # noqa: F401  (register checks and signals)

        heartbeat.install(app)
