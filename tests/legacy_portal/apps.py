from django.apps import AppConfig


class LegacyPortalConfig(AppConfig):
    name = "tests.legacy_portal"
    label = "referrals"  # the old app's label: its table is referrals_referral

    def ready(self):
        from . import signals  # noqa: F401
