from django.conf import settings
from django.contrib.auth import login
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from .forms import SignUpForm


@require_http_methods(["GET", "POST"])
def signup(request):
    if request.user.is_authenticated:
        return redirect("referrals:list")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("referrals:list")
    return render(request, "registration/signup.html", {"form": form})


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
