"""Log-ins and failed log-ins go to the audit log (portal and admin alike: Django's signals)."""

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db.models import TextField
from django.db.models.functions import Cast
from django.dispatch import Signal, receiver

from . import audit


@receiver(user_logged_in, dispatch_uid="privacy.audit.login")
def _logged_in(sender, request, user, **kwargs):
    audit.record(audit.Action.LOGIN, actor=user, request=request)


@receiver(user_login_failed, dispatch_uid="privacy.audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # The username tried (never the password: Django already masks it in `credentials`).
    tried = str(credentials.get("username", ""))[:150]
    audit.record(audit.Action.LOGIN_FAILED, request=request, username=tried)


# Sent inside the transaction that deletes a person's data (referrals.subjects.erase_cedula),
# with `cedula` and `names`: each app that keeps a copy of a referral (webhook payloads, the
# API's kept answers) removes its own, so the portal's domain needs to know none of them.
subject_erased = Signal()


def scrub(value, needles: list[str]):
    """`value` (JSON-like) with every string that contains one of `needles` blanked: what a
    `subject_erased` receiver does to a kept copy it cannot simply delete."""
    if isinstance(value, str):
        return "" if any(n and n in value for n in needles) else value
    if isinstance(value, dict):
        return {k: scrub(v, needles) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, needles) for v in value]
    return value


def scrub_json_field(model, field: str, *, cedula: str, names: list[str]) -> int:
    """Blank the person's cédula and names in `model.field` (a JSONField) wherever a row holds
    them; returns the rows changed. The database finds the candidates by the cédula's digits
    (the stored JSON may escape a name's accents), Python checks each value."""
    needles = [cedula, *names]
    candidates = model.objects.annotate(_text=Cast(field, TextField())).filter(
        _text__contains=cedula
    )
    changed = 0
    for row in candidates:
        value = getattr(row, field)
        cleaned = scrub(value, needles)
        if cleaned != value:
            changed += model.objects.filter(pk=row.pk).update(**{field: cleaned})
    return changed
