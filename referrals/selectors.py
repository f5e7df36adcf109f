"""Reads of referrals, scoped to who is asking. Every view, export, batch page, htmx partial
and count starts here; nothing else filters referrals by person.

    visible_referrals(user) -> QuerySet[Referral]   what `user` may read
    can_act_on(user, referral) -> bool             may re-verify / act on this one
    actable_referrals(user) -> QuerySet[Referral]  what `user` may act on (none for a viewer)

Who sees what is decided once, in campaigns.selectors.visible_people: a manager the whole
campaign, a coordinator their teams' leaders (read at each request, so moving a leader moves
their referrals) and themselves, a leader their own, a viewer their team (read-only).
"""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from campaigns import selectors as people

from .models import ImportBatch, Referral

User = get_user_model()


def visible_referrals(user) -> QuerySet:
    scope = people.visible_people(user)
    referrals = Referral.objects.all()
    return referrals if scope is None else referrals.filter(referred_by_id__in=scope)


def actable_referrals(user) -> QuerySet:
    return visible_referrals(user) if people.can_act(user) else Referral.objects.none()


def can_act_on(user, referral: Referral) -> bool:
    return actable_referrals(user).filter(pk=referral.pk).exists()


def can_read_rows(user) -> bool:
    """Lists, details and exports name people: viewers get the counts only."""
    return people.can_act(user)


def visible_batches(user) -> QuerySet:
    """Import batches of the people in `user`'s scope (viewers: none)."""
    if not people.can_act(user):
        return ImportBatch.objects.none()
    scope = people.visible_people(user)
    batches = ImportBatch.objects.all()
    return batches if scope is None else batches.filter(created_by_id__in=scope)


def own_batches(user) -> QuerySet:
    """Batches `user` uploaded: only the uploader confirms or cancels one."""
    return (
        ImportBatch.objects.filter(created_by=user)
        if user.is_authenticated
        else (ImportBatch.objects.none())
    )


def referrers_in_scope(user) -> QuerySet:
    """The people with referrals `user` sees (the list's "leader" filter), by username."""
    referrers = visible_referrals(user).values("referred_by")
    return User.objects.filter(pk__in=referrers).order_by("username")
