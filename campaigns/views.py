"""The team page of managers and coordinators: invitation links, teams and their goals, the
leaders (their team, their goal)."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from . import selectors, services
from .forms import GoalForm, InvitationForm, MemberForm


def _require_manager_or_coordinator(request):
    if not selectors.manages_people(request.user):
        raise PermissionDenied


@login_required
def team_home(request, invitation_form=None):
    _require_manager_or_coordinator(request)
    actor = request.user
    invitations = [
        (i, request.build_absolute_uri(reverse("invitation-signup", args=[i.token])))
        for i in selectors.visible_invitations(actor)[:50]
    ]
    members = [
        (m, MemberForm(actor=actor, initial={"team": m.team_id, "goal": m.goal}, prefix=f"m{m.pk}"))
        for m in selectors.manageable_members(actor).order_by("team__name", "user__username")
    ]
    teams = [
        (t, GoalForm(initial={"goal": t.goal}, prefix=f"t{t.pk}"))
        for t in selectors.manageable_teams(actor).select_related("coordinator")
    ]
    context = {
        "invitation_form": invitation_form or InvitationForm(actor=actor),
        "invitations": invitations,
        "members": members,
        "teams": teams,
    }
    return render(request, "campaigns/team.html", context)


@login_required
@require_POST
def invitation_create(request):
    _require_manager_or_coordinator(request)
    form = InvitationForm(request.POST, actor=request.user)
    if not form.is_valid():
        return team_home(request, invitation_form=form)
    services.create_invitation(
        actor=request.user,
        role=form.cleaned_data["role"],
        team=form.cleaned_data["team"],
        expires_in=timedelta(days=form.cleaned_data["days"]),
        max_uses=form.cleaned_data["max_uses"],
    )
    messages.success(request, _("Invitación creada: copia el enlace y compártelo."))
    return redirect("campaigns:home")


@login_required
@require_POST
def invitation_revoke(request, pk):
    invitation = get_object_or_404(selectors.visible_invitations(request.user), pk=pk)
    services.revoke_invitation(actor=request.user, invitation=invitation)
    messages.info(request, _("Invitación revocada: el enlace ya no sirve."))
    return redirect("campaigns:home")


@login_required
@require_POST
def member_update(request, pk):
    membership = get_object_or_404(selectors.manageable_members(request.user), pk=pk)
    form = MemberForm(request.POST, actor=request.user, prefix=f"m{pk}")
    if form.is_valid():
        if form.cleaned_data["team"] != membership.team:
            services.move_member(
                actor=request.user, membership=membership, team=form.cleaned_data["team"]
            )
        services.set_member_goal(
            actor=request.user, membership=membership, goal=form.cleaned_data["goal"]
        )
        messages.success(
            request, _("Cambios guardados para %(name)s.") % {"name": membership.user.username}
        )
    else:
        messages.error(request, _("Revisa el equipo y la meta."))
    return redirect("campaigns:home")


@login_required
@require_POST
def team_goal(request, pk):
    team = get_object_or_404(selectors.manageable_teams(request.user), pk=pk)
    form = GoalForm(request.POST, prefix=f"t{pk}")
    if form.is_valid():
        services.set_team_goal(actor=request.user, team=team, goal=form.cleaned_data["goal"])
        messages.success(request, _("Meta del equipo guardada."))
    else:
        messages.error(request, _("La meta debe ser un número entero."))
    return redirect("campaigns:home")
