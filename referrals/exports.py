"""The filtered list as a CSV for Excel (project/spreadsheet.py: `;`, UTF-8 with BOM, formulas
neutralised), its last line saying who exported it and when (an export leaves the portal: the
file itself names who took it)."""

from collections.abc import Iterable, Iterator

from django.utils import timezone
from django.utils.translation import gettext as _

from project.spreadsheet import FORMULA_PREFIXES, csv_lines, neutralise

from .explanations import status_view
from .models import Referral

__all__ = ["FORMULA_PREFIXES", "export_lines", "header", "neutralise", "referral_row"]


def header() -> list[str]:
    return [
        _("Cédula"),
        _("Nombre"),
        _("Estado"),
        _("Departamento"),
        _("Municipio"),
        _("Puesto"),
        _("Dirección"),
        _("Mesa"),
        _("Fuente"),
        _("Detalle"),
        _("Registrado"),
    ]


def referral_row(referral: Referral) -> list[str]:
    view = status_view(referral)
    created = timezone.localtime(referral.created_at).strftime("%Y-%m-%d %H:%M")
    return [
        referral.cedula,
        referral.full_name,
        view.label,
        referral.departamento,
        referral.municipio,
        referral.puesto,
        referral.direccion,
        referral.mesa,
        referral.get_census_source_display(),  # the census page that answered
        view.explanation,
        created,
    ]


def export_lines(referrals: Iterable[Referral], *, exported_by: str = "") -> Iterator[str]:
    """The CSV, line by line, starting with the BOM and the header; with `exported_by`, a last
    line saying who exported it and when."""
    footer = []
    if exported_by:
        when = timezone.localtime().strftime("%Y-%m-%d %H:%M")
        footer = [_("Exportado por %(user)s el %(when)s") % {"user": exported_by, "when": when}]
    return csv_lines(header(), (referral_row(r) for r in referrals), footer)
