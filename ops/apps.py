from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = _("Operaciones")

    def ready(self):
        from privacy.signals import subject_erased

        from . import checks  # noqa: F401 (registers the start-up checks)
        from .erasure import scrub_alerts

        subject_erased.connect(scrub_alerts, dispatch_uid="ops.scrub_alerts")
