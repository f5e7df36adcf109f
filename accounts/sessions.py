"""Session lifetimes: an idle timeout for everyone, an absolute lifetime shorter for staff.

Django's own sessions only expire SESSION_COOKIE_AGE after their last save. Here each session
remembers when its user logged in and when it was last used (refreshed at most once a minute,
so a page polling every 3 s does not write the session on every poll); past
SESSION_IDLE_TIMEOUT without a request, or SESSION_MAX_AGE after the log-in
(SESSION_STAFF_MAX_AGE for staff), the user is logged out and the request goes on as an
anonymous one (a portal page then sends them to the log-in). An htmx poll gets `HX-Refresh`,
so the whole page goes to the log-in rather than a fragment of it. The log-in signal's
receiver is connected in AccountsConfig.ready().
"""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponse

LOGGED_IN_AT = "_logged_in_at"
LAST_SEEN = "_last_seen"
LAST_SEEN_EVERY = 60  # seconds: how stale LAST_SEEN may get before it is written again


def remember_log_in(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[LOGGED_IN_AT] = now
        request.session[LAST_SEEN] = now


def session_expired(session, user, now: float) -> bool:
    logged_in_at = session.get(LOGGED_IN_AT)
    last_seen = session.get(LAST_SEEN)
    if logged_in_at is None or last_seen is None:
        return True  # a session from before these limits: log in again, once
    max_age = settings.SESSION_STAFF_MAX_AGE if user.is_staff else settings.SESSION_MAX_AGE
    return now - last_seen > settings.SESSION_IDLE_TIMEOUT or now - logged_in_at > max_age


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            if session_expired(request.session, user, now):
                logout(request)
                if request.headers.get("HX-Request"):
                    return HttpResponse(status=204, headers={"HX-Refresh": "true"})
            elif now - request.session[LAST_SEEN] >= LAST_SEEN_EVERY:
                request.session[LAST_SEEN] = now
        return self.get_response(request)
