"""The audit trail of staff actions on referrals in the admin: one entry per referral in the
portal's audit log (privacy.audit), plus Django's LogEntry for each object's admin history."""

from django.contrib.admin.models import CHANGE, LogEntry

from privacy import audit


def record_staff_action(user, queryset, message: str, *, action=audit.Action.ADMIN_ACTION) -> None:
    """Who did what to each referral of `queryset`, and when."""
    LogEntry.objects.log_actions(user.pk, queryset, CHANGE, change_message=message)
    for referral in queryset:
        audit.record(action, actor=user, target=referral, via="admin", message=message)
