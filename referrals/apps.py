from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Referidos"

    def ready(self):
        from . import checks, signals  # noqa: F401  (register system checks and Celery signals)
