from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Cuentas"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from .sessions import remember_log_in

        user_logged_in.connect(remember_log_in, dispatch_uid="accounts.remember_log_in")
