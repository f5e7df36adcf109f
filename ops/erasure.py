"""A person's data deleted (privacy.signals.subject_erased): alerts already mask cédulas
(ops.alerts), but an error's text may have carried the person's name or number: taken out."""

from django.db.models import Q

from .models import Alert

ERASED = "[titular borrado]"


def scrub_alerts(sender, cedula: str, names: list[str], **kwargs) -> None:
    needles = [n for n in (cedula, *names) if n]
    query = Q()
    for needle in needles:
        query |= Q(title__contains=needle) | Q(body__contains=needle)
    for alert in Alert.objects.filter(query):
        title, body = alert.title, alert.body
        for needle in needles:
            title, body = title.replace(needle, ERASED), body.replace(needle, ERASED)
        Alert.objects.filter(pk=alert.pk).update(title=title[:200], body=body)
