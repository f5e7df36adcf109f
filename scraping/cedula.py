"""Cédula input: what people type → the digits we send to the site (nothing else, ever)."""

from __future__ import annotations

import re

# The one definition of what a cédula looks like; the portal (referrals.cedula) adds its
# messages for people on top of it.
MIN_DIGITS = 3
MAX_DIGITS = 10
# Separators people type between digit groups (1.020.304.050, 1 020 304 050, 1-020-304-050).
SEPARATORS = re.compile(r"[\s.,'’\-]+")
_VALID = re.compile(rf"[0-9]{{{MIN_DIGITS},{MAX_DIGITS}}}")  # ASCII only: not '١٢٣'


def strip_separators(value: str) -> str:
    return SEPARATORS.sub("", value)


def normalize_cedula(value: str) -> str:
    """Strip separators; return 3–10 ASCII digits or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("cédula must be a string")
    digits = strip_separators(value)
    if not _VALID.fullmatch(digits):
        raise ValueError(f"not a plausible cédula: {value!r}")
    return digits
