from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = _("Referidos")

    def ready(self):
        from .folding import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="referrals-fold")
