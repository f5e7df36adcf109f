from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self):
        from privacy.signals import subject_erased

        from .erasure import scrub_kept_answers

        subject_erased.connect(scrub_kept_answers, dispatch_uid="api.scrub_kept_answers")
