"""What we tell the user about a referral's state: its badge and, when it is not verified, why.

One place for these texts so the list, the detail page and the export say the same thing.
"""

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import Referral, Status  # models import nothing of this module

DELAYED = "delayed"
DELAYED_LABEL = _("Demorado")

# Keyed by Referral.status; census_status refines `cancelled` below.
STATUS_EXPLANATIONS = {
    Status.PENDING: _("En cola: la verificaremos en unos minutos. Esta página se actualiza sola."),
    Status.VERIFYING: _("Estamos consultando la Registraduría. Esta página se actualiza sola."),
    Status.RETRYING: _(
        "La página de la Registraduría no está disponible por ahora. "
        "Lo intentaremos de nuevo automáticamente."
    ),
    Status.NOT_FOUND: _(
        "La Registraduría dice que esta cédula no está en el censo electoral: no tiene puesto "
        "de votación asignado. Revisa el número; si es correcto, la persona debe inscribirse."
    ),
    Status.CANCELLED: _(
        "La Registraduría reporta la cédula como cancelada, por lo que no puede votar."
    ),
    Status.IN_REVIEW: _(
        "La Registraduría tiene una solicitud en trámite sobre esta cédula. "
        "Vuelve a consultarla más adelante."
    ),
    Status.BLOCKED: _(
        "La Registraduría bloqueó nuestras consultas por ahora; nuestro equipo fue alertado "
        "y la verificaremos cuando se resuelva."
    ),
    Status.FAILED: _("No pudimos verificarla."),
}

CENSUS_EXPLANATIONS = {
    "cancelled_deceased": _("La Registraduría reporta la cédula como cancelada por muerte."),
    "cancelled_other": _(
        "La Registraduría reporta la cédula como cancelada (por pérdida o suspensión de los "
        "derechos políticos u otra novedad)."
    ),
}

DELAYED_EXPLANATION = _(
    "Su verificación está tardando más de lo normal. Nuestro equipo fue alertado; "
    "no tienes que hacer nada."
)


@dataclass(frozen=True)
class StatusView:
    key: str  # a Status value, or "delayed"
    label: str
    explanation: str


def status_view(referral: Referral) -> StatusView:
    """The badge and explanation the user sees for this referral."""
    if referral.status in Status.in_flight() and referral.stale_flagged_at:
        return StatusView(DELAYED, str(DELAYED_LABEL), str(DELAYED_EXPLANATION))
    label = referral.get_status_display()
    if referral.status == Status.VERIFIED:
        return StatusView(referral.status, label, "")
    explanation = CENSUS_EXPLANATIONS.get(referral.census_status) or STATUS_EXPLANATIONS.get(
        referral.status, ""
    )
    explanation = str(explanation)
    if referral.status == Status.FAILED and referral.last_error:
        # Stored in Spanish (the msgid, pipeline.verification.USER_MESSAGES): shown translated.
        explanation = f"{explanation} {gettext(referral.last_error)}"
    return StatusView(referral.status, label, explanation)
