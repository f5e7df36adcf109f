from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from privacy.signals import subject_erased

        from .erasure import scrub_deliveries

        subject_erased.connect(scrub_deliveries, dispatch_uid="webhooks.scrub_deliveries")
