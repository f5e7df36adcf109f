"""Reads about people: a user's role, the teams they run, whose work they may see.

`visible_people(user)` is the one definition of "whose referrals this user sees";
referrals.selectors builds every referral query on it.
"""

from django.db.models import QuerySet

from .models import Invitation, Membership, Role, Team


def membership_of(user) -> Membership | None:
    """The user's membership, or None (a user without one is a leader without a team)."""
    if not user.is_authenticated:
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def role_of(user) -> str | None:
    """The user's campaign role; None for an anonymous visitor."""
    if not user.is_authenticated:
        return None
    membership = membership_of(user)
    return membership.role if membership else Role.LEADER


def can_act(user) -> bool:
    """Viewers read reports; every other role adds, imports and re-verifies (within its scope)."""
    return role_of(user) not in (None, Role.VIEWER)


def manages_people(user) -> bool:
    """Managers and coordinators run teams: invitations, goals, moving leaders."""
    return role_of(user) in (Role.MANAGER, Role.COORDINATOR)


def sees_everything(user) -> bool:
    membership = membership_of(user)
    if membership is None:
        return False
    return membership.role == Role.MANAGER or (
        membership.role == Role.VIEWER and membership.team_id is None
    )


def visible_people(user) -> list[int] | None:
    """The ids of the users whose referrals `user` may see, or None for "everyone" (a manager,
    or a viewer of the whole campaign). A list, not a subquery: it is short (a team) and keeps
    the referral queries on their (referred_by, created_at) index.

    manager: everyone · coordinator: the members of the teams they run, and themselves ·
    leader: themselves · viewer: their team (its members and its coordinator), or everyone when
    they were given no team · anonymous: nobody.
    """
    if not user.is_authenticated:
        return []
    if sees_everything(user):
        return None
    membership = membership_of(user)
    role = membership.role if membership else Role.LEADER
    if role == Role.COORDINATOR:
        members = Membership.objects.filter(team__coordinator=user).values_list(
            "user_id", flat=True
        )
        return sorted({user.pk, *members})
    if role == Role.VIEWER:
        team = membership.team
        members = Membership.objects.filter(team=team).values_list("user_id", flat=True)
        return sorted({*members, *([team.coordinator_id] if team.coordinator_id else [])})
    return [user.pk]


def manageable_teams(user) -> QuerySet:
    """Teams whose goals, members and invitations `user` may manage."""
    role = role_of(user)
    if role == Role.MANAGER:
        return Team.objects.all()
    if role == Role.COORDINATOR:
        return Team.objects.filter(coordinator=user)
    return Team.objects.none()


def visible_teams(user) -> QuerySet:
    """Teams shown on a dashboard: the ones managed, or a viewer's own team."""
    if sees_everything(user):
        return Team.objects.all()
    membership = membership_of(user)
    if membership and membership.role == Role.VIEWER:
        return Team.objects.filter(pk=membership.team_id)
    return manageable_teams(user)


def manageable_members(user) -> QuerySet:
    """Memberships `user` may move between teams or give a goal: a manager's are every leader
    and viewer (and people without a team); a coordinator's, the members of their teams."""
    members = Membership.objects.select_related("user", "team").filter(
        role__in=[Role.LEADER, Role.VIEWER]
    )
    role = role_of(user)
    if role == Role.MANAGER:
        return members
    if role == Role.COORDINATOR:
        return members.filter(team__coordinator=user)
    return Membership.objects.none()


def invitable_roles(user) -> list[str]:
    role = role_of(user)
    if role == Role.MANAGER:
        return [Role.COORDINATOR, Role.LEADER, Role.VIEWER, Role.MANAGER]
    if role == Role.COORDINATOR:
        return [Role.LEADER, Role.VIEWER]
    return []


def visible_invitations(user) -> QuerySet:
    """A manager sees every invitation; a coordinator, the ones they made."""
    invitations = Invitation.objects.select_related("team", "created_by")
    role = role_of(user)
    if role == Role.MANAGER:
        return invitations
    if role == Role.COORDINATOR:
        return invitations.filter(created_by=user)
    return Invitation.objects.none()


def usable_invitation(token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("team").filter(token=token).first()
    return invitation if invitation and invitation.is_usable else None


def leader_by_code(code: str):
    """The person whose self-registration link carries `code` (leaders and coordinators refer
    people; a viewer's link does not work)."""
    membership = (
        Membership.objects.select_related("user")
        .filter(signup_code=code, user__is_active=True)
        .exclude(role=Role.VIEWER)
        .first()
    )
    return membership.user if membership else None
