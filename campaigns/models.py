"""The people of a campaign: who has which role, which teams they run or belong to, their goals,
and the invitation links that bring new people in.

One person, one `Membership` (one role). A user without one (an open sign-up, a superuser made
with `createsuperuser`) is a leader without a team: they see their own referrals only.
"""

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def new_token() -> str:
    """An unguessable URL-safe token (about 190 bits) for invitation and self-registration links."""
    return secrets.token_urlsafe(24)


class Role(models.TextChoices):
    MANAGER = "manager", _("Gerente de campaña")
    COORDINATOR = "coordinator", _("Coordinador")
    LEADER = "leader", _("Líder")
    VIEWER = "viewer", _("Observador")


class Team(models.Model):
    """A coordinator's team of leaders, with a goal of verified referrals."""

    name = models.CharField(_("nombre"), max_length=100)
    coordinator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="coordinated_teams",
        verbose_name=_("coordinador"),
    )
    goal = models.PositiveIntegerField(
        _("meta de verificados"), default=0, help_text=_("0: sin meta")
    )
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)

    class Meta:
        verbose_name = _("equipo")
        verbose_name_plural = _("equipos")
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class Membership(models.Model):
    """A person's place in the campaign: their role, their team, their goal, their personal
    self-registration link (`signup_code`)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="membership",
        verbose_name=_("usuario"),
    )
    role = models.CharField(_("rol"), max_length=16, choices=Role.choices, default=Role.LEADER)
    # Leaders and viewers belong to a team; a coordinator's teams are Team.coordinator; a
    # manager's scope is the whole campaign. A viewer without a team reads the whole campaign,
    # so deleting a team must not quietly empty this field (PROTECT: move its members first).
    team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("equipo"),
    )
    goal = models.PositiveIntegerField(
        _("meta de verificados"), default=0, help_text=_("0: sin meta")
    )
    signup_code = models.CharField(max_length=40, unique=True, default=new_token, editable=False)
    created_at = models.DateTimeField(_("creado"), auto_now_add=True)

    class Meta:
        verbose_name = _("miembro")
        verbose_name_plural = _("miembros")
        indexes = [models.Index(fields=["team", "role"], name="membership_team_role")]

    def __str__(self):
        return f"{self.user} ({self.get_role_display()})"


class Invitation(models.Model):
    """A link that opens a sign-up form placing the new account (role, team). Usable until it
    expires, is used `max_uses` times or is revoked."""

    token = models.CharField(max_length=40, unique=True, default=new_token, editable=False)
    role = models.CharField(_("rol"), max_length=16, choices=Role.choices)
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
        verbose_name=_("equipo"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="invitations_made",
        verbose_name=_("creada por"),
    )
    expires_at = models.DateTimeField(_("vence"))
    max_uses = models.PositiveIntegerField(_("usos permitidos"), default=1)
    uses = models.PositiveIntegerField(_("usos"), default=0)
    revoked_at = models.DateTimeField(_("revocada"), null=True, blank=True)
    created_at = models.DateTimeField(_("creada"), auto_now_add=True)

    class Meta:
        verbose_name = _("invitación")
        verbose_name_plural = _("invitaciones")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_role_display()} · {self.team or '—'}"

    @property
    def is_usable(self) -> bool:
        return (
            self.revoked_at is None
            and self.uses < self.max_uses
            and self.expires_at > timezone.now()
        )
