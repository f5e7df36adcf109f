from datetime import UTC, datetime

from django import template
from django.utils import timezone
from django.utils.formats import date_format

register = template.Library()


@register.filter
def epoch_time(value) -> str:
    """Epoch seconds (what Redis keeps) as local day and time; empty when unknown."""
    if value in (None, ""):
        return "—"
    moment = timezone.localtime(datetime.fromtimestamp(float(value), tz=UTC))
    if moment.date() == timezone.localdate():
        return date_format(moment, "H:i:s")
    return date_format(moment, "j M H:i")
