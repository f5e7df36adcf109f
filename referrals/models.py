from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    """Where a referral is in its verification. The one list of states."""

    PENDING = "pending", _("En cola")
    VERIFYING = "verifying", _("Verificando")
    RETRYING = "retrying", _("Reintentando")
    VERIFIED = "verified", _("Verificado")
    NOT_FOUND = "not_found", _("No está en el censo")
    CANCELLED = "cancelled", _("Cédula cancelada")
    IN_REVIEW = "in_review", _("En revisión")
    FAILED = "failed", _("Falló")
    BLOCKED = "blocked", _("Bloqueado")

    @classmethod
    def in_flight(cls) -> list[str]:
        """States in which work is queued or running: the page keeps polling while any exist."""
        return [cls.PENDING, cls.VERIFYING, cls.RETRYING]

    @classmethod
    def final(cls) -> list[str]:
        return [s for s in cls.values if s not in cls.in_flight()]


class ImportBatch(models.Model):
    """One uploaded file of cédulas: parsed and checked first, saved only once the user confirms.

    The parsed rows live here (not in the session) so the report survives a reload and, after
    confirming, the batch page can show the progress of exactly the referrals it created.
    """

    class State(models.TextChoices):
        REVIEW = "review", _("Por confirmar")
        CONFIRMED = "confirmed", _("Confirmada")
        CANCELLED = "cancelled", _("Cancelada")

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="import_batches",
        verbose_name=_("creada por"),
    )
    filename = models.CharField(_("archivo"), max_length=255)
    state = models.CharField(
        _("estado"), max_length=16, choices=State.choices, default=State.REVIEW
    )
    # [{"line": int, "cedula": str, "raw_cedula": str, "full_name": str, "outcome": str,
    #   "reason": msgid, "params": {...}}] — see referrals.imports.
    rows = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(_("creada"), auto_now_add=True)
    confirmed_at = models.DateTimeField(_("confirmada"), null=True, blank=True)

    class Meta:
        verbose_name = _("importación")
        verbose_name_plural = _("importaciones")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.filename} ({self.get_state_display()})"

    def get_absolute_url(self):
        return reverse("referrals:import-detail", args=[self.pk])


class Referral(models.Model):
    cedula = models.CharField(
        _("cédula"),
        max_length=10,
        help_text=_("Solo dígitos: se guardan sin puntos ni espacios."),
    )
    full_name = models.CharField(_("nombre completo"), max_length=200, blank=True)
    referred_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="referrals",
        verbose_name=_("referido por"),
    )
    status = models.CharField(
        _("estado"), max_length=16, choices=Status.choices, default=Status.PENDING
    )

    created_at = models.DateTimeField(_("creado"), auto_now_add=True)
    updated_at = models.DateTimeField(_("actualizado"), auto_now=True)
    last_attempt_at = models.DateTimeField(_("último intento"), null=True, blank=True)
    finished_at = models.DateTimeField(_("terminado"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("intentos"), default=0)
    import_batch = models.ForeignKey(
        ImportBatch,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("importación"),
    )
    # Short, user-safe text: never a traceback.
    last_error = models.CharField(_("último error"), max_length=300, blank=True)

    # The claim held by the task run that is verifying this referral right now (see
    # services.claim_referral): who holds it and since when, so a run that died is recognised.
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    # Stale-sweep bookkeeping.
    requeue_count = models.PositiveSmallIntegerField(default=0)
    stale_flagged_at = models.DateTimeField(_("marcado como demorado"), null=True, blank=True)

    # What the census said.
    census_status = models.CharField(_("estado en el censo"), max_length=32, blank=True)
    census_message = models.CharField(_("mensaje del censo"), max_length=500, blank=True)
    departamento = models.CharField(max_length=100, blank=True)
    municipio = models.CharField(max_length=100, blank=True)
    puesto = models.CharField(_("puesto de votación"), max_length=200, blank=True)
    direccion = models.CharField(_("dirección"), max_length=200, blank=True)
    mesa = models.CharField(max_length=20, blank=True)
    fecha_ingreso = models.CharField(_("fecha de inscripción"), max_length=40, blank=True)
    coddivipol = models.CharField(_("código DIVIPOL"), max_length=40, blank=True)
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    map_url = models.URLField(max_length=500, blank=True)
    census_raw = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("referido")
        verbose_name_plural = _("referidos")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["cedula"], name="referral_cedula_unique"),
        ]
        indexes = [
            # "My referrals", newest first, optionally filtered by status.
            models.Index(fields=["referred_by", "-created_at"], name="referral_owner_created"),
            models.Index(fields=["referred_by", "status"], name="referral_owner_status"),
            # The stale sweep and the dashboard: in-flight referrals by age.
            models.Index(fields=["status", "updated_at"], name="referral_status_updated"),
        ]

    def __str__(self):
        return f"{self.cedula} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("referrals:detail", args=[self.pk])

    @property
    def is_in_flight(self) -> bool:
        return self.status in Status.in_flight()

    @property
    def user_status(self):
        """Badge label and explanation for the user (referrals.explanations)."""
        from .explanations import status_view  # it imports this module

        return status_view(self)


class ScrapeAttempt(models.Model):
    """One run of the verification task against the site: what ops read to judge its health."""

    class Outcome(models.TextChoices):
        RUNNING = "running", _("En curso")
        FOUND = "found", _("Encontrado")
        NOT_FOUND = "not_found", _("No encontrado")
        RETRY = "retry", _("Reintento")
        FAILED = "failed", _("Falló")
        BLOCKED = "blocked", _("Bloqueado")

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="scrape_attempts")
    task_id = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    error_class = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"attempt {self.pk} of {self.referral_id}: {self.outcome}"


class Alert(models.Model):
    """Every alert raised for on-call, whether or not it was delivered (dedup keeps the rest)."""

    key = models.CharField(max_length=200, db_index=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title
