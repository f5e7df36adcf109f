"""A new version of the data policy asks signed-in users to accept it again before they go on
using the portal (pages only: the API, the admin, log-out and the policy pages themselves pass)."""

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from . import policy

# Paths a user who has not accepted yet may still reach.
PASSING = (
    "/privacidad/",
    "/cuenta/",
    "/i18n/",
    "/api/",
    "/admin/",
    "/static/",
    "/healthz",
    "/readyz",
    "/metrics",
)


class PolicyAcceptance:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and request.method == "GET"
            and not request.path.startswith(PASSING)
            and "HTTP_HX_REQUEST" not in request.META  # an htmx poll: the next page asks
            and policy.must_accept_again(user, request)
        ):
            url = reverse("privacy:accept") + "?" + urlencode({"next": request.get_full_path()})
            return redirect(url)
        return self.get_response(request)
