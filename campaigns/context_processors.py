"""What the navigation shows depends on the role."""

from . import selectors


def campaign(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "campaign_role": selectors.role_of(user),
        "can_act": selectors.can_act(user),
        "manages_people": selectors.manages_people(user),
    }
