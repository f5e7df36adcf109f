from django.conf import settings
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from campaigns import selectors as campaign
from campaigns import services as campaign_services
from privacy import policy

from .forms import SignUpForm


@require_http_methods(["GET", "POST"])
def signup(request):
    """Open sign-up (SIGNUP_MODE=open) makes a leader without a team; with `invite` (the
    default) the page only explains that an invitation link is needed."""
    if request.user.is_authenticated:
        return redirect("referrals:list")
    if settings.SIGNUP_MODE != "open":
        return render(request, "registration/signup_invite_only.html")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        campaign_services.place_open_signup(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        policy.accept(user=user, version=form.policy_version, request=request)
        return redirect("referrals:list")
    return render(request, "registration/signup.html", _context(form))


@require_http_methods(["GET", "POST"])
def invitation_signup(request, token):
    """An invitation link: a sign-up form whose account lands in the invitation's role and
    team. Expired, used up or revoked links say so (410) and make no account."""
    if request.user.is_authenticated:
        return redirect("referrals:list")
    invitation = campaign.usable_invitation(token)
    if invitation is None:
        return render(request, "registration/invitation_unusable.html", status=410)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = campaign_services.accept_invitation(token=token, create_user=form.save)
        except campaign_services.InvitationUnusable:
            return render(request, "registration/invitation_unusable.html", status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        policy.accept(user=user, version=form.policy_version, request=request)
        return redirect(
            "referrals:dashboard" if campaign.manages_people(user) else "referrals:list"
        )
    return render(request, "registration/signup.html", _context(form, invitation=invitation))


def _context(form, **extra) -> dict:
    return {"form": form, "policy": policy.current_policy(), **extra}


def locked_out(request, response=None, credentials=None):
    """django-axes' answer once a username and address are locked out (AXES_LOCKOUT_CALLABLE):
    a page in the user's language saying why and for how long, status 429. The same page serves
    the portal and the admin log-in."""
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": settings.AXES_COOLOFF_MINUTES},
        status=429,
    )
