"""Reads of the audit log: who may read it, and its entries filtered."""

from datetime import datetime, time

from django.db.models import QuerySet
from django.utils import timezone

from campaigns import selectors as people
from campaigns.models import Role

from .models import AuditEntry


def can_read_audit(user) -> bool:
    """The campaign's managers and the staff (ops, the data-protection officer's account)."""
    return user.is_authenticated and (user.is_staff or people.role_of(user) == Role.MANAGER)


def _day(text: str, end: bool) -> datetime | None:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None
    return timezone.make_aware(datetime.combine(day, time.max if end else time.min))


def audit_entries(
    *, action: str = "", actor: str = "", since: str = "", until: str = "", subject_hash: str = ""
) -> QuerySet:
    entries = AuditEntry.objects.all()
    if action:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor_name__iexact=actor.strip())
    if subject_hash:
        entries = entries.filter(subject_hash=subject_hash)
    if start := _day(since, end=False):
        entries = entries.filter(at__gte=start)
    if stop := _day(until, end=True):
        entries = entries.filter(at__lte=stop)
    return entries
