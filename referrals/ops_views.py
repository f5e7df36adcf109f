"""The ops dashboard: staff only."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from . import captcha_pool, monitoring


@login_required
def dashboard(request):
    if not request.user.is_staff:
        raise PermissionDenied
    figures = monitoring.dashboard_figures()
    context = {
        "f": figures,
        "bars": chart_bars(figures["hours"]),
        "flower_url": settings.FLOWER_URL,
        "captcha": captcha_pool.dashboard_figures(),
    }
    return render(request, "referrals/ops_dashboard.html", context)


def chart_bars(hours: list[dict], height: int = 130, width: int = 20) -> list[dict]:
    """Geometry of the 24 hourly bars of the server-rendered SVG chart."""
    top = max([h["attempts"] for h in hours] + [1])
    bars = []
    for i, hour in enumerate(hours):
        h = round(hour["attempts"] / top * height)
        fail_h = round(hour["failed"] / top * height)
        bars.append(
            {
                **hour,
                "x": i * width,
                "y": height - h,
                "h": h,
                "fail_y": height - fail_h,
                "fail_h": fail_h,
            }
        )
    return bars
