"""/metrics for Prometheus: only with `Authorization: Bearer <METRICS_TOKEN>`; no token set,
no metrics (the figures say how busy the program is and which egress addresses it uses)."""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from .metrics import exposition


def _authorized(request) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_GET
def metrics(request):
    if not settings.METRICS_TOKEN:
        raise Http404("METRICS_TOKEN is not set")
    if not _authorized(request):
        response = HttpResponse(
            "a bearer token is required\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # The classic text format (names escaped to underscores), which every Prometheus 2.x reads;
    # the client's newer 1.0.0 content type is only understood by Prometheus 3.
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
