"""Cédula numbers as people type them, and as the census page accepts them.

People write `1.020.304.050`, `1 020 304 050` or `1-020-304-050`; the site takes digits only.
Normalise first, then validate: 3 to 10 ASCII digits (older cédulas are short, recent ones have
10 digits), never a leading zero. Unicode digits such as `١٢٣` are refused rather than
converted: what the user sees must be exactly what we send.
"""

import re

MIN_DIGITS = 3
MAX_DIGITS = 10

# Separators people type between digit groups; nothing else is dropped.
_SEPARATORS = re.compile(r"[\s.,'’\-_]+")
_ASCII_DIGITS = re.compile(r"[0-9]+", re.ASCII)


class InvalidCedula(ValueError):
    """The text cannot be a cédula; the message is for the user (Spanish)."""


def normalize_cedula(raw: object) -> str:
    """Return the cédula as digits only, or raise InvalidCedula with a message for the user."""
    if not isinstance(raw, str):
        raise InvalidCedula("Escribe el número de cédula.")
    digits = _SEPARATORS.sub("", raw)
    if not digits:
        raise InvalidCedula("Escribe el número de cédula.")
    if not _ASCII_DIGITS.fullmatch(digits):
        raise InvalidCedula(
            "La cédula solo puede tener números (puedes separarlos con puntos o espacios)."
        )
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidCedula(f"La cédula debe tener entre {MIN_DIGITS} y {MAX_DIGITS} dígitos.")
    if digits[0] == "0":
        raise InvalidCedula("La cédula no puede empezar por 0.")
    return digits
