from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .links import safe_map_url


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


# The census pages that can answer (`scraping.sources`), as people read them.
CENSUS_SOURCE_CHOICES = [
    ("consultacenso", "consultacenso.registraduria.gov.co"),
    ("wsp", _("wsp.registraduria.gov.co (formulario anterior)")),
]


class ConsentMethod(models.TextChoices):
    """How the person's authorization to handle their data was obtained."""

    LEADER_ATTESTATION = "attested", _("El líder certifica que la persona autorizó")
    IMPORT_ATTESTATION = "import", _("Certificada al confirmar la importación")
    SELF_ACCEPTANCE = "self", _("La persona aceptó la política al registrarse")
    API_ATTESTATION = "api", _("Certificada por la integración (API)")
    LEGACY = "legacy", _("Sin registro (anterior a la política)")


class Referral(models.Model):
    class Source(models.TextChoices):
        FORM = "form", _("Formulario")
        IMPORT = "import", _("Importación")
        LINK = "link", _("Enlace de autorregistro")
        API = "api", _("API")

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
    source = models.CharField(
        _("origen"), max_length=8, choices=Source.choices, default=Source.FORM
    )
    # The data subject's authorization (Ley 1581 de 2012, art. 9): how it was obtained, under
    # which version of the data policy, when, and who registered it. Every path that creates a
    # referral passes one (referrals.services.Authorization); `legacy` marks referrals made
    # before it was recorded.
    consent_method = models.CharField(
        _("autorización"),
        max_length=16,
        choices=ConsentMethod.choices,
        default=ConsentMethod.LEGACY,
    )
    consent_policy_version = models.CharField(
        _("versión de la política"), max_length=40, blank=True
    )
    consent_at = models.DateTimeField(_("autorización registrada"), null=True, blank=True)
    consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("autorización registrada por"),
    )
    # The last re-verification asked by its owner or their coordinator: the cooldown's clock.
    reverify_requested_at = models.DateTimeField(
        _("verificación repetida pedida"), null=True, blank=True
    )
    # Short, user-safe text: never a traceback.
    last_error = models.CharField(_("último error"), max_length=300, blank=True)

    # The claim held by the task run that is verifying this referral right now (see
    # pipeline.verification.claim_referral): who holds it and since when, so a run that died
    # is recognised.
    claimed_by = models.CharField(_("tomado por"), max_length=64, blank=True)
    claimed_at = models.DateTimeField(_("tomado a las"), null=True, blank=True)

    # Stale-sweep bookkeeping.
    requeue_count = models.PositiveSmallIntegerField(_("veces re-encolado"), default=0)
    stale_flagged_at = models.DateTimeField(_("marcado como demorado"), null=True, blank=True)

    # What the census said.
    census_status = models.CharField(_("estado en el censo"), max_length=32, blank=True)
    census_message = models.CharField(_("mensaje del censo"), max_length=500, blank=True)
    departamento = models.CharField(_("departamento"), max_length=100, blank=True)
    municipio = models.CharField(_("municipio"), max_length=100, blank=True)
    puesto = models.CharField(_("puesto de votación"), max_length=200, blank=True)
    direccion = models.CharField(_("dirección"), max_length=200, blank=True)
    mesa = models.CharField(_("mesa"), max_length=20, blank=True)
    fecha_ingreso = models.CharField(_("fecha de inscripción"), max_length=40, blank=True)
    coddivipol = models.CharField(_("código DIVIPOL"), max_length=40, blank=True)
    latitude = models.FloatField(_("latitud"), null=True, blank=True)
    longitude = models.FloatField(_("longitud"), null=True, blank=True)
    map_url = models.URLField(_("enlace al mapa"), max_length=500, blank=True)
    census_raw = models.JSONField(_("respuesta completa del censo"), default=dict, blank=True)
    # The census page that answered (`scraping.sources`: consultacenso, or the older wsp form).
    census_source = models.CharField(
        _("fuente del censo"), max_length=20, blank=True, choices=CENSUS_SOURCE_CHOICES
    )

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
    def map_link(self) -> str:
        """The census map URL if it is safe to show as a link (referrals/links.py), else ""."""
        return safe_map_url(self.map_url)


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
    # The census page this run went to, and what it answered (size-capped, captcha tokens
    # redacted: `pipeline.verification.raw_answer`), so a maintainer can see what the site said.
    source = models.CharField(_("fuente"), max_length=20, blank=True)
    raw_answer = models.TextField(_("respuesta de la página"), blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"attempt {self.pk} of {self.referral_id}: {self.outcome}"


class CutoverRecord(models.Model):
    """One user or referral carried over from a Django-Q2 portal (`cutover_from_django_q`).

    The record of what was carried over: a second run finds it and neither imports the row again
    nor publishes its verification again. A referral's record is written in the transaction that
    creates the referral, `published` set when its verification is published on that commit.
    """

    class Kind(models.TextChoices):
        USER = "user", _("usuario")
        REFERRAL = "referral", _("referido")

    source = models.CharField(_("origen"), max_length=100)
    kind = models.CharField(_("tipo"), max_length=16, choices=Kind.choices)
    source_key = models.CharField(_("id en el origen"), max_length=64)
    target_id = models.PositiveBigIntegerField(_("id aquí"))
    old_status = models.CharField(_("estado en el origen"), max_length=64, blank=True)
    published = models.BooleanField(_("verificación publicada"), default=False)
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)

    class Meta:
        verbose_name = _("registro de migración")
        verbose_name_plural = _("registros de migración")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "kind", "source_key"], name="cutover_record_unique"
            ),
        ]

    def __str__(self):
        return f"{self.source} {self.kind} {self.source_key} → {self.target_id}"


class DuplicateClaim(models.Model):
    """Someone tried to register a cédula that is already in the program and that they may not
    see. They got a neutral answer; the owning team's coordinator (or the manager) sees the
    claim and resolves it. Deleted with the referral (it names no one else)."""

    referral = models.ForeignKey(
        Referral, on_delete=models.CASCADE, related_name="claims", verbose_name=_("referido")
    )
    claimant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("quién lo intentó"),
    )
    source = models.CharField(_("por dónde"), max_length=8, choices=Referral.Source.choices)
    api = models.BooleanField(_("por la API"), default=False)
    created_at = models.DateTimeField(_("cuándo"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resuelto"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resuelto por"),
    )
    resolution = models.CharField(_("resolución"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("cédula repetida")
        verbose_name_plural = _("cédulas repetidas")
        ordering = ["resolved_at", "-created_at"]

    def __str__(self):
        return f"claim {self.pk} on referral {self.referral_id}"
