"""Cédula input: what people type → the digits we send to the site (nothing else, ever)."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s.\-]")
_VALID = re.compile(r"[0-9]{3,10}")  # ASCII only: str.isdigit() would accept '١٢٣'


def normalize_cedula(value: str) -> str:
    """Strip dots, spaces and dashes; return 3–10 ASCII digits or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("cédula must be a string")
    digits = _SEPARATORS.sub("", value)
    if not _VALID.fullmatch(digits):
        raise ValueError(f"not a plausible cédula: {value!r}")
    return digits
