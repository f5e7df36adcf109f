"""The filtered list as a CSV that Excel in Colombia opens correctly on a double click.

Choices: `;` as separator, because Colombian Excel uses `,` as the decimal mark and so expects
`;` between columns (a `,` file opens as one column); UTF-8 with a BOM, which is how Excel
recognises UTF-8 (without it, "Bogotá" shows as "BogotÃ¡"). Cells that a spreadsheet would run
as a formula are neutralised (OWASP "CSV injection").
"""

import csv
from collections.abc import Iterable, Iterator

from django.utils import timezone
from django.utils.translation import gettext as _

from .explanations import status_view
from .models import Referral

DELIMITER = ";"
BOM = "\ufeff"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """`=HYPERLINK(...)` → `'=HYPERLINK(...)`: shown as text, never evaluated."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


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
        view.explanation,
        created,
    ]


class _Line:
    """A file-like object csv.writer writes one line to, so lines can be streamed."""

    def write(self, text: str) -> str:
        return text


def export_lines(referrals: Iterable[Referral]) -> Iterator[str]:
    """The CSV, line by line, starting with the BOM and the header."""
    writer = csv.writer(_Line(), delimiter=DELIMITER, lineterminator="\r\n")
    yield BOM + writer.writerow(header())
    for referral in referrals:
        yield writer.writerow([neutralise(cell) for cell in referral_row(referral)])
