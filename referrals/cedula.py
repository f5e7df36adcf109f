"""Cédula numbers as people type them, and as the census page accepts them.

People write `1.020.304.050`, `1 020 304 050` or `1-020-304-050`; the site takes digits only.
Normalise first, then validate: 3 to 10 ASCII digits (older cédulas are short, recent ones have
10 digits), never a leading zero. Unicode digits such as `١٢٣` are refused rather than
converted: what the user sees must be exactly what we send.
"""

import re

from django.utils.translation import gettext, gettext_noop

from scraping.cedula import MAX_DIGITS, MIN_DIGITS, strip_separators

_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class InvalidCedula(ValueError):
    """The text cannot be a cédula. `str(exc)` is the Spanish message; `translated()` gives it
    in the active language. The msgid and params are kept apart so an import report stored as
    JSON can be shown later in whatever language its reader uses."""

    def __init__(self, message: str, params: dict | None = None):
        self.message = message
        self.params = params or {}
        super().__init__(message % self.params if self.params else message)

    def translated(self) -> str:
        text = gettext(self.message)
        return text % self.params if self.params else text


def normalize_cedula(raw: object) -> str:
    """Return the cédula as digits only, or raise InvalidCedula with a message for the user."""
    if not isinstance(raw, str):
        raise InvalidCedula(gettext_noop("Escribe el número de cédula."))
    digits = strip_separators(raw)
    if not digits:
        raise InvalidCedula(gettext_noop("Escribe el número de cédula."))
    if not _ASCII_DIGITS.fullmatch(digits):
        raise InvalidCedula(
            gettext_noop(
                "La cédula solo puede tener números (puedes separarlos con puntos o espacios)."
            )
        )
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidCedula(
            gettext_noop("La cédula debe tener entre %(min)d y %(max)d dígitos."),
            {"min": MIN_DIGITS, "max": MAX_DIGITS},
        )
    if digits[0] == "0":
        raise InvalidCedula(gettext_noop("La cédula no puede empezar por 0."))
    return digits
