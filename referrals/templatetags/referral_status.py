"""`{{ referral|status_view }}`: the badge and explanation a user reads (referrals.explanations)."""

from django import template

from referrals.explanations import StatusView
from referrals.explanations import status_view as _status_view

register = template.Library()


@register.filter
def status_view(referral) -> StatusView:
    return _status_view(referral)
