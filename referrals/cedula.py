"""Cédulas as people type them: scraping.cedula's rules, with a message for people per rule.

`clean_cedula` is the portal's way in (forms, imports, services): the digits, or InvalidCedula
with a message for the user.
"""

from django.utils.translation import gettext, gettext_noop

from scraping import cedula as rules

MESSAGES = {
    rules.Rule.EMPTY: gettext_noop("Escribe el número de cédula."),
    rules.Rule.NOT_DIGITS: gettext_noop(
        "La cédula solo puede tener números (puedes separarlos con puntos o espacios)."
    ),
    rules.Rule.LENGTH: gettext_noop("La cédula debe tener entre %(min)d y %(max)d dígitos."),
    rules.Rule.LEADING_ZERO: gettext_noop("La cédula no puede empezar por 0."),
}
PARAMS = {rules.Rule.LENGTH: {"min": rules.MIN_DIGITS, "max": rules.MAX_DIGITS}}


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


def clean_cedula(raw: object) -> str:
    """The cédula as digits only, or InvalidCedula with a message for the user."""
    try:
        return rules.normalize_cedula(raw)
    except rules.InvalidCedula as exc:
        raise InvalidCedula(MESSAGES[exc.rule], PARAMS.get(exc.rule)) from None
