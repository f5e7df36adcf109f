"""Domain logic for referrals. Views, tasks, the admin and commands call these functions.

The rule that matters most here: a referral is saved and its verification is *published after
the transaction commits*, never before (a worker would look for a row it cannot see yet) and
never from a request's own thread of work (no network or browser work in a request).
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from campaigns import selectors as people
from campaigns.models import Role
from pipeline import dispatch
from privacy import audit, policy
from project import ratelimit

from . import quotas, selectors, subjects
from .cedula import clean_cedula
from .models import ConsentMethod, DuplicateClaim, Referral, Status

log = logging.getLogger(__name__)


# The one answer to a cédula already in the program that the asker may not see: the same for
# everyone (a leader of another team, a visitor on a self-registration link, an integration), so
# the portal never tells who is in the program. The attempt is recorded as a DuplicateClaim.
NOT_REGISTRABLE = gettext_lazy(
    "No es posible registrar esta cédula. Dejamos constancia de la solicitud para que el "
    "equipo de la campaña la revise."
)
ALREADY_YOURS = gettext_lazy("Esta cédula ya está registrada y puedes verla.")


class AlreadyRegistered(Exception):
    """The cédula is in the program. `referral` is set only when the asker may see it; else
    the asker gets NOT_REGISTRABLE and a claim was recorded."""

    def __init__(self, cedula: str, referral: Referral | None = None):
        super().__init__("already registered")
        self.referral = referral

    @property
    def message(self) -> str:
        return str(ALREADY_YOURS if self.referral is not None else NOT_REGISTRABLE)


class MissingAuthorization(ValueError):
    """No record of the person's authorization: no referral is created without one."""


class DailyCapReached(Exception):
    def __init__(self, cap: int):
        super().__init__(f"daily cap of {cap} reached")
        self.cap = cap

    @property
    def message(self) -> str:
        return gettext(
            "Llegaste al límite de %(cap)d referidos nuevos por día. Podrás registrar más "
            "mañana; si de verdad necesitas más hoy, habla con el gerente de la campaña."
        ) % {"cap": self.cap}


@dataclass(frozen=True)
class Authorization:
    """How the person's authorization was obtained, under which policy version, when and by
    whom (Referral.consent_*). Build one with `authorization(...)`."""

    method: str
    by: object  # the user who registered it (None: the person themselves, on a public link)
    policy_version: str
    at: datetime


def authorization(method: str, by=None) -> Authorization:
    """An authorization given now, under the data policy in force."""
    if method not in ConsentMethod.values or method == ConsentMethod.LEGACY:
        raise MissingAuthorization(method)
    return Authorization(
        method=method, by=by, policy_version=policy.current_version(), at=timezone.now()
    )


def create_referral(
    *,
    user,
    cedula: str,
    full_name: str = "",
    source: str = Referral.Source.FORM,
    authorization: Authorization | None,
) -> Referral:
    """Save a referral for `user` and queue its verification once the transaction commits.

    Raises MissingAuthorization without an authorization record, InvalidCedula for text that
    cannot be a cédula, DailyCapReached past the user's NEW_REFERRALS_DAILY_CAP (not for the
    public link: its own rate limits apply) and AlreadyRegistered for a cédula already in the
    program (see AlreadyRegistered.referral).
    """
    if authorization is None:
        raise MissingAuthorization("no authorization record")
    cedula = clean_cedula(cedula)
    public_link = source == Referral.Source.LINK  # the link has its own rate limits
    if not public_link and not quotas.reserve(
        quotas.NEW_REFERRALS, user, 1, when_redis_down="allow"
    ):
        raise DailyCapReached(quotas.cap(quotas.NEW_REFERRALS))
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                cedula=cedula,
                full_name=full_name.strip(),
                referred_by=user,
                source=source,
                consent_method=authorization.method,
                consent_policy_version=authorization.policy_version,
                consent_at=authorization.at,
                consent_by=authorization.by,
            )
            enqueue_verification(referral.pk)
    except IntegrityError as exc:
        existing = Referral.objects.filter(cedula=cedula).first()
        if existing is not None:
            raise duplicate(asker=user, existing=existing, source=source) from exc
        raise
    return referral


def duplicate(*, asker, existing: Referral, source: str) -> AlreadyRegistered:
    """The answer to registering `existing`'s cédula again: the referral itself for someone who
    may see it; for anyone else the neutral answer, and a claim for its team to resolve."""
    if (
        source != Referral.Source.LINK
        and selectors.visible_referrals(asker).filter(pk=existing.pk).exists()
    ):
        return AlreadyRegistered(existing.cedula, existing)
    DuplicateClaim.objects.create(
        referral=existing, claimant=asker, source=source, api=source == Referral.Source.API
    )
    return AlreadyRegistered(existing.cedula)


def enqueue_verification(referral_id: int) -> None:
    """Publish the verification task when the surrounding transaction commits."""
    transaction.on_commit(lambda: dispatch.publish_verification(referral_id))


def requeue_referrals(queryset) -> int:
    """Put final or stuck referrals back in the queue (admin action, ops command): a fresh
    start, so the attempt and re-queue counts start again (else a referral that hit the cap
    goes straight back to `failed` without a lookup)."""
    with transaction.atomic():
        ids = list(queryset.values_list("pk", flat=True))
        Referral.objects.filter(pk__in=ids).update(
            status=Status.PENDING,
            attempts=0,
            requeue_count=0,
            last_error="",
            claimed_by="",
            claimed_at=None,
            finished_at=None,
            stale_flagged_at=None,
            updated_at=timezone.now(),
        )
        for referral_id in ids:
            enqueue_verification(referral_id)
    return len(ids)


# --- self-registration through a leader's link ------------------------------------------------


class TooManyAttempts(Exception):
    """The address or the link went over its self-registration limit for now."""


def self_registration_allowed(*, address: str, code: str) -> bool:
    """Count one submission against the address and the link; False past either limit."""
    window = settings.SELF_SIGNUP_WINDOW
    by_address = ratelimit.allow(
        f"selfsignup:addr:{address}", limit=settings.SELF_SIGNUP_LIMIT_PER_ADDRESS, window=window
    )
    by_link = ratelimit.allow(
        f"selfsignup:link:{code}", limit=settings.SELF_SIGNUP_LIMIT_PER_LINK, window=window
    )
    return by_address and by_link


def register_through_link(*, leader, cedula: str, full_name: str, accepted: bool) -> Referral:
    """A person referred by `leader` typed their own cédula and accepted the data policy in
    force (`accepted`: the form's checkbox; without it nothing is created)."""
    if not accepted:
        raise MissingAuthorization("the person did not accept the data policy")
    return create_referral(
        user=leader,
        cedula=cedula,
        full_name=full_name,
        source=Referral.Source.LINK,
        authorization=authorization(ConsentMethod.SELF_ACCEPTANCE),
    )


# --- re-verification asked by the people who own the referrals ------------------------------


@dataclass(frozen=True)
class ReverifyResult:
    queued: int  # back in the queue
    cooling: int  # asked again too recently (REVERIFY_COOLDOWN)
    capped: int  # over today's REVERIFY_DAILY_CAP of the person asking


def reverify_eligible(referrals):
    """Referrals worth asking again: failed or blocked at any time, other final answers once
    old (REVERIFY_OLD_AFTER). Never one in flight."""
    old = timezone.now() - timedelta(seconds=settings.REVERIFY_OLD_AFTER)
    return referrals.filter(
        Q(status__in=[Status.FAILED, Status.BLOCKED])
        | Q(
            status__in=[Status.VERIFIED, Status.NOT_FOUND, Status.CANCELLED, Status.IN_REVIEW],
            finished_at__lt=old,
        )
    )


def _cooled_down(referrals):
    since = timezone.now() - timedelta(seconds=settings.REVERIFY_COOLDOWN)
    return referrals.filter(
        Q(reverify_requested_at__isnull=True) | Q(reverify_requested_at__lt=since)
    )


def reverify_used_today(user) -> int:
    return quotas.used_today(quotas.REVERIFY, user)


def reverify_referrals(*, actor, referrals) -> ReverifyResult:
    """Put the eligible referrals of `referrals` that `actor` may act on back in the queue,
    within the cooldown and the actor's daily cap. Referrals outside the actor's scope are
    ignored, never re-queued."""
    with transaction.atomic():
        eligible = reverify_eligible(
            selectors.actable_referrals(actor).filter(pk__in=referrals.values("pk"))
        )
        ready = list(
            _cooled_down(eligible).order_by("updated_at", "pk").values_list("pk", flat=True)
        )
        cooling = eligible.count() - len(ready)
        # Redis away: nothing can be published and the cap cannot be checked: spend nothing.
        granted = quotas.reserve(quotas.REVERIFY, actor, len(ready))
        ids = ready[:granted]
        Referral.objects.filter(pk__in=ids).update(reverify_requested_at=timezone.now())
        queued = requeue_referrals(Referral.objects.filter(pk__in=ids))
        if queued:
            audit.record(
                audit.Action.REVERIFIED,
                actor=actor,
                count=queued,
                referral_ids=ids[:50],
                cooling=cooling,
                capped=len(ready) - granted,
            )
    return ReverifyResult(queued=queued, cooling=cooling, capped=len(ready) - granted)


# --- removing a referral typed by mistake; resolving duplicate claims -------------------------


def can_remove(user, referral: Referral) -> bool:
    """The person who typed a referral (form, import, API) may remove it; so may a manager.
    A self-registration is the person's own: only a manager removes it (their request)."""
    if not user.is_authenticated:
        return False
    if people.role_of(user) == Role.MANAGER:
        return True
    return referral.referred_by_id == user.pk and referral.source != Referral.Source.LINK


def remove_referral(*, actor, referral: Referral, request=None) -> None:
    """Delete a referral and every copy of its data (subjects.erase_cedula), audited."""
    if not can_remove(actor, referral):
        raise PermissionDenied("may not remove this referral")
    subjects.erase_cedula(
        cedula=referral.cedula, actor=actor, request=request, reason="removed_by_user"
    )


def open_claims(user):
    """Claims on referrals the user's teams own: a coordinator's teams, everything for a
    manager; nobody else resolves claims."""
    if not people.manages_people(user):
        return DuplicateClaim.objects.none()
    return DuplicateClaim.objects.filter(
        referral__in=selectors.visible_referrals(user)
    ).select_related("referral", "claimant")


def resolve_claim(*, actor, claim: DuplicateClaim, resolution: str, request=None) -> None:
    if not open_claims(actor).filter(pk=claim.pk).exists():
        raise PermissionDenied("not a claim this user resolves")
    DuplicateClaim.objects.filter(pk=claim.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=resolution.strip()[:300]
    )
    audit.record(
        audit.Action.CLAIM_RESOLVED,
        actor=actor,
        request=request,
        target=claim,
        referral_id=claim.referral_id,
    )
