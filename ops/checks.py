"""Start-up checks of ops: an alert that no channel carries reaches nobody."""

from django.conf import settings
from django.core import checks


@checks.register()
def alert_channels(app_configs, **kwargs):
    if settings.ALERT_URLS or settings.ADMINS:
        return []
    return [
        checks.Warning(
            "No alert channel is configured: alerts are recorded and shown on /ops/ and in the "
            "admin, but reach nobody.",
            hint="Set ALERT_URLS (apprise URLs) or ADMINS (e-mail addresses).",
            id="ops.W001",
        )
    ]
