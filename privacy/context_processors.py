"""The banner asking an account that never accepted the data policy to read and accept it."""

from . import policy


def policy_banner(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith("/privacidad/"):
        return {}
    # Lazy: asked only when base.html shows the banner.
    return {"policy_pending": lambda: policy.needs_first_acceptance(user, request)}
