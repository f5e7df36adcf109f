from django.db import models
from django.utils.translation import gettext_lazy as _


class Alert(models.Model):
    """Every alert raised for on-call, whether or not it was delivered (dedup keeps the rest)."""

    key = models.CharField(_("clave"), max_length=200, db_index=True)
    title = models.CharField(_("título"), max_length=200)
    body = models.TextField(_("detalle"))
    created_at = models.DateTimeField(_("creada"), auto_now_add=True, db_index=True)
    # Set only when a channel (ALERT_URLS, ADMINS) took it: no channel is not "delivered".
    delivered_at = models.DateTimeField(_("entregada"), null=True, blank=True)
    delivery_error = models.CharField(_("error de entrega"), max_length=300, blank=True)
    # An incident is open until what it reported is over (the circuit closed, the rate went
    # back down, the solver works) or staff mark it resolved.
    resolved_at = models.DateTimeField(_("resuelta"), null=True, blank=True, db_index=True)
    # Deliveries tried so far; the task tries again with backoff until one succeeds or its
    # retries run out (then the alert stays undelivered, listed on /ops/).
    delivery_attempts = models.PositiveSmallIntegerField(_("intentos de entrega"), default=0)

    class Meta:
        verbose_name = _("alerta")
        verbose_name_plural = _("alertas")
        ordering = ["-created_at"]
        # The table it had when alerts lived in the referrals app: moving code moved no rows.
        db_table = "referrals_alert"

    def __str__(self):
        return self.title

    @property
    def kind(self) -> str:
        """The incident's kind: its key without the instance suffix (`failure-rate:1700000000`)."""
        return self.key.split(":", 1)[0]


class CensusPageSnapshot(models.Model):
    """A census page as the drift canary loaded it when it no longer matched what the client
    relies on (ops/canary.py): size-capped, for the maintainer who adapts the client."""

    source = models.CharField(_("fuente"), max_length=20)
    url = models.URLField(_("dirección"), max_length=500)
    taken_at = models.DateTimeField(_("tomada"), auto_now_add=True, db_index=True)
    problems = models.TextField(_("qué no coincide"))
    html = models.TextField(_("página"))

    class Meta:
        verbose_name = _("copia de página del censo")
        verbose_name_plural = _("copias de páginas del censo")
        ordering = ["-taken_at"]

    def __str__(self):
        return f"{self.source} {self.taken_at:%Y-%m-%d %H:%M}"
