"""Writes about people: invitations, placing a new account, goals, moving a leader, the first
manager. Each write checks the actor's right to make it (PermissionDenied otherwise)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from privacy import audit

from . import selectors
from .models import Invitation, Membership, Role, Team

User = get_user_model()


class InvitationUnusable(Exception):
    """Expired, used up or revoked (or never existed)."""


def create_invitation(
    *, actor, role: str, team: Team | None, expires_in: timedelta, max_uses: int
) -> Invitation:
    if role not in selectors.invitable_roles(actor):
        raise PermissionDenied("role not invitable by this user")
    teams = selectors.manageable_teams(actor)
    if team is not None and not teams.filter(pk=team.pk).exists():
        raise PermissionDenied("team not managed by this user")
    if selectors.role_of(actor) == Role.COORDINATOR and team is None:
        raise PermissionDenied("a coordinator invites into one of their teams")
    if role == Role.MANAGER:
        team = None
    return Invitation.objects.create(
        role=role,
        team=team,
        created_by=actor,
        expires_at=timezone.now() + expires_in,
        max_uses=max(1, max_uses),
    )


def revoke_invitation(*, actor, invitation: Invitation) -> None:
    if not selectors.visible_invitations(actor).filter(pk=invitation.pk).exists():
        raise PermissionDenied("not this user's invitation")
    Invitation.objects.filter(pk=invitation.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def accept_invitation(*, token: str, create_user) -> User:
    """Spend one use of the invitation and place the account `create_user()` makes (called
    inside the transaction, so a refused invitation creates no account). Two people racing for
    the last use: the row lock lets one through."""
    with transaction.atomic():
        # No select_related: PostgreSQL refuses FOR UPDATE on the nullable side of a join.
        invitation = Invitation.objects.select_for_update().filter(token=token).first()
        if invitation is None or not invitation.is_usable:
            raise InvitationUnusable(token)
        user = create_user()
        team = invitation.team
        if invitation.role == Role.COORDINATOR:
            if team is None:
                team = Team.objects.create(
                    name=_("Equipo de %(name)s") % {"name": user.get_username()}
                )
            Team.objects.filter(pk=team.pk).update(coordinator=user)
            team = None  # a coordinator's teams are the ones they run, not a membership
        membership = Membership.objects.create(user=user, role=invitation.role, team=team)
        Invitation.objects.filter(pk=invitation.pk).update(uses=F("uses") + 1)
        record_role_change(
            actor=invitation.created_by, membership=membership, old_role=None, via="invitation"
        )
    return user


def place_open_signup(user) -> Membership:
    """SIGNUP_MODE=open: a new account is a leader without a team until someone places them."""
    membership, _created = Membership.objects.get_or_create(
        user=user, defaults={"role": Role.LEADER}
    )
    return membership


def ensure_membership(user) -> Membership:
    """A membership for a user made outside the portal (createsuperuser, the admin): a leader
    without a team, so they get a self-registration link too."""
    return place_open_signup(user)


def move_member(*, actor, membership: Membership, team: Team | None) -> None:
    """Put a leader or viewer in another team (None: no team). What the coordinators see moves
    with them: scoping reads the team at every request."""
    if not selectors.manageable_members(actor).filter(pk=membership.pk).exists():
        raise PermissionDenied("not a member this user manages")
    if team is not None and not selectors.manageable_teams(actor).filter(pk=team.pk).exists():
        raise PermissionDenied("team not managed by this user")
    if team is None and selectors.role_of(actor) != Role.MANAGER:
        raise PermissionDenied("only a manager takes someone out of every team")
    with transaction.atomic():
        Membership.objects.filter(pk=membership.pk).update(team=team)
        record_team_move(actor=actor, membership=membership, team=team)


def record_team_move(*, actor, membership: Membership, team: Team | None, request=None) -> None:
    audit.record(
        audit.Action.TEAM_MOVED,
        actor=actor,
        request=request,
        target=membership,
        member=membership.user.get_username(),
        from_team=membership.team.name if membership.team_id else None,
        to_team=team.name if team else None,
    )


def record_role_change(*, actor, membership: Membership, old_role, request=None, via="") -> None:
    audit.record(
        audit.Action.ROLE_CHANGED,
        actor=actor,
        request=request,
        target=membership,
        member=membership.user.get_username(),
        from_role=old_role,
        to_role=membership.role,
        via=via,
    )


def set_member_goal(*, actor, membership: Membership, goal: int) -> None:
    if not selectors.manageable_members(actor).filter(pk=membership.pk).exists():
        raise PermissionDenied("not a member this user manages")
    Membership.objects.filter(pk=membership.pk).update(goal=max(0, goal))


def set_team_goal(*, actor, team: Team, goal: int) -> None:
    if not selectors.manageable_teams(actor).filter(pk=team.pk).exists():
        raise PermissionDenied("team not managed by this user")
    Team.objects.filter(pk=team.pk).update(goal=max(0, goal))


def create_manager(*, username: str, email: str, password: str | None) -> tuple[User, bool]:
    """The campaign's manager: a new account, or an existing one promoted. Returns (user,
    created)."""
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        created = user is None
        if created:
            user = User.objects.create_user(username, email, password)
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
        old = Membership.objects.filter(user=user).values_list("role", flat=True).first()
        membership, _created = Membership.objects.update_or_create(
            user=user, defaults={"role": Role.MANAGER, "team": None}
        )
        if old != Role.MANAGER:
            record_role_change(
                actor=None, membership=membership, old_role=old, via="create_manager"
            )
    return user, created
