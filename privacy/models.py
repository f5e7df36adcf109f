"""The data policy's versions, who accepted which, and the append-only audit log."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PolicyVersion(models.Model):
    """One published version of the privacy notice and the data policy. The newest one is in
    force; a version once published is never edited (people accepted *that* text): publish a
    new one instead. Without any, the built-in version of the settings is in force
    (privacy.policy.current_policy)."""

    version = models.CharField(_("versión"), max_length=40, unique=True)
    controller = models.CharField(_("responsable del tratamiento"), max_length=200)
    contact = models.CharField(
        _("contacto para consultas y reclamos"),
        max_length=300,
        help_text=_("Correo, teléfono o dirección donde los titulares ejercen sus derechos."),
    )
    notice_text = models.TextField(_("aviso de privacidad"), blank=True)
    policy_text = models.TextField(_("política de tratamiento"), blank=True)
    published_at = models.DateTimeField(_("publicada"), auto_now_add=True)

    class Meta:
        verbose_name = _("versión de la política de datos")
        verbose_name_plural = _("versiones de la política de datos")
        ordering = ["-published_at", "-id"]

    def __str__(self):
        return self.version


class PolicyAcceptance(models.Model):
    """A portal user accepted a version of the data policy (at sign-up, or again when a new
    version was published)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="policy_acceptances"
    )
    version = models.CharField(_("versión"), max_length=40)
    accepted_at = models.DateTimeField(_("aceptada"), auto_now_add=True)

    class Meta:
        verbose_name = _("aceptación de la política")
        verbose_name_plural = _("aceptaciones de la política")
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="policy_acceptance_once"),
        ]

    def __str__(self):
        return f"{self.user_id} {self.version}"


class Action(models.TextChoices):
    """What the audit log records. One list: the log page's filter and the export use it."""

    LOGIN = "login", _("Entró")
    LOGIN_FAILED = "login_failed", _("Intento de entrada fallido")
    REFERRAL_VIEWED = "referral_viewed", _("Vio un referido")
    LIST_VIEWED = "list_viewed", _("Vio la lista de referidos")
    EXPORTED = "exported", _("Exportó")
    IMPORTED = "imported", _("Importó")
    REVERIFIED = "reverified", _("Pidió verificar de nuevo")
    DELETED = "deleted", _("Borró datos de un titular")
    CORRECTED = "corrected", _("Corrigió datos de un titular")
    SUBJECT_LOOKED_UP = "subject_looked_up", _("Consultó los datos de un titular")
    SUBJECT_EXPORTED = "subject_exported", _("Entregó los datos de un titular")
    TEAM_MOVED = "team_moved", _("Cambió a alguien de equipo")
    ROLE_CHANGED = "role_changed", _("Cambió un rol")
    CLAIM_RESOLVED = "claim_resolved", _("Resolvió una cédula repetida")
    POLICY_ACCEPTED = "policy_accepted", _("Aceptó la política de datos")
    RETENTION_PURGED = "retention_purged", _("Purga por retención")
    AUDIT_EXPORTED = "audit_exported", _("Exportó el registro de auditoría")
    ADMIN_ACTION = "admin_action", _("Acción en la administración")


class AuditQuerySet(models.QuerySet):
    """Append-only: no bulk update or delete through the ORM."""

    def update(self, **kwargs):
        raise PermissionError("the audit log is append-only")

    def delete(self):
        raise PermissionError("the audit log is append-only")


class AuditEntry(models.Model):
    """Who did what to whose data, and when. Written by privacy.audit.record only; never
    changed or deleted (the model refuses, the admin offers neither). It never holds a cédula
    or a name: a referral is named by its id, a person whose data was deleted by a keyed hash
    of the cédula (privacy.audit.subject_hash)."""

    at = models.DateTimeField(_("cuándo"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("quién"),
    )
    # The username as it was (an account may be renamed or removed later).
    actor_name = models.CharField(_("usuario"), max_length=150, blank=True)
    action = models.CharField(_("acción"), max_length=32, choices=Action.choices, db_index=True)
    target_type = models.CharField(_("objeto"), max_length=40, blank=True)
    target_id = models.CharField(_("id del objeto"), max_length=40, blank=True)
    subject_hash = models.CharField(_("titular (hash)"), max_length=64, blank=True, db_index=True)
    address = models.GenericIPAddressField(_("dirección IP"), null=True, blank=True)
    detail = models.JSONField(_("detalle"), default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("entrada de auditoría")
        verbose_name_plural = _("registro de auditoría")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["actor", "-at"], name="audit_actor_at")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit log is append-only")
