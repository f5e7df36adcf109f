from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = _("Protección de datos")

    def ready(self):
        from django.core.signals import setting_changed
        from django.db.models.signals import post_save

        from . import policy, signals  # noqa: F401  (log-ins and failed log-ins: audited)
        from .models import PolicyVersion

        post_save.connect(policy.clear_cache, sender=PolicyVersion, dispatch_uid="policy-cache")
        setting_changed.connect(policy.clear_cache, dispatch_uid="policy-cache-settings")
