"""Log-in throttling on top of django-axes: who the client is, and a limit per address.

axes locks a (username, address) pair after AXES_FAILURE_LIMIT failures. That alone lets one
address try a few passwords against every username (password spraying), and behind a proxy
whose address every request carries it lets anyone lock any leader out. Here:

- `client_ip` reads the real client address: REMOTE_ADDR, or, behind TRUSTED_PROXY_COUNT
  proxies, the X-Forwarded-For entry the outermost trusted proxy wrote. Entries to its left
  come from the client and are never trusted (they can be forged).
- `PairAndAddressHandler` adds an address-wide limit, counted over axes' own failure records
  (one store for every failed log-in): AXES_ADDRESS_FAILURE_LIMIT failures from one address,
  whatever the usernames, within the cool-off lock that address. A stranger's failures for
  "ana" lock only the stranger's pair and address: Ana from her own address still gets in.

A rate-limiter library (django-ratelimit & co.) would count requests in a second store (a
cache); axes already records each failure with its address, so the limit is one query on it.
"""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum


def client_ip(request) -> str | None:
    """The client's address as the outermost trusted proxy saw it (AXES_CLIENT_IP_CALLABLE)."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        # Not every trusted proxy appended an address: the request did not come through them.
        return remote
    return forwarded[-proxies]


class PairAndAddressHandler(AxesDatabaseHandler):
    """axes' database handler, plus the address-wide limit (AXES_HANDLER)."""

    def address_failures(self, request) -> int:
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0

    def address_locked(self, request) -> bool:
        return self.address_failures(request) >= settings.AXES_ADDRESS_FAILURE_LIMIT

    def is_locked(self, request, credentials=None) -> bool:
        return super().is_locked(request, credentials) or self.address_locked(request)

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.is_whitelisted(request, credentials) or not self.address_locked(request):
            return
        # This failure reached the address-wide limit: answer it with the lock-out page.
        request.axes_locked_out = True
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        )
