"""Cédula input: what people type → the digits we send to the site (nothing else, ever).

The one definition of what a cédula looks like. People write `1.020.304.050`, `1 020 304 050`
or `1-020-304-050`; the site takes digits only: 3 to 10 ASCII digits (older cédulas are short,
recent ones have 10), never a leading zero. Unicode digits such as `١٢٣` are refused rather than
converted: what the user sees must be exactly what we send. The portal (referrals.cedula) adds
a message for people to each broken rule.
"""

from __future__ import annotations

import re
from enum import StrEnum

MIN_DIGITS = 3
MAX_DIGITS = 10
# Separators people type between digit groups (1.020.304.050, 1 020 304 050, 1-020-304-050).
SEPARATORS = re.compile(r"[\s.,'’\-]+")
_ASCII_DIGITS = re.compile(r"[0-9]+")  # ASCII only: not '١٢٣'


class Rule(StrEnum):
    """The rule a text broke."""

    EMPTY = "empty"
    NOT_DIGITS = "not_digits"
    LENGTH = "length"
    LEADING_ZERO = "leading_zero"


class InvalidCedula(ValueError):
    def __init__(self, rule: Rule, value: object):
        self.rule = rule
        super().__init__(f"not a plausible cédula ({rule}): {value!r}")


def strip_separators(value: str) -> str:
    return SEPARATORS.sub("", value)


def normalize_cedula(value: object) -> str:
    """Strip separators; return 3–10 ASCII digits or raise InvalidCedula (a ValueError)."""
    if not isinstance(value, str):
        raise InvalidCedula(Rule.EMPTY, value)
    digits = strip_separators(value)
    if not digits:
        raise InvalidCedula(Rule.EMPTY, value)
    if not _ASCII_DIGITS.fullmatch(digits):
        raise InvalidCedula(Rule.NOT_DIGITS, value)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise InvalidCedula(Rule.LENGTH, value)
    if digits[0] == "0":
        raise InvalidCedula(Rule.LEADING_ZERO, value)
    return digits
