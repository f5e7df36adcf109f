"""The ops dashboard (staff only) and the health endpoints (no login)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from pipeline import captcha_pool, resume
from pipeline.egress import source_key, sources

from . import alerts, monitoring


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
        "undelivered": alerts.undelivered(),
        "work": monitoring.work_figures(),
        "alerts": monitoring.alerts_panel(),
    }
    template = "ops/_dashboard_body.html" if request.htmx else "ops/dashboard.html"
    return render(request, template, context)


@login_required
@require_POST
def probe_now(request):
    """ "Probar ahora": end the circuit's cool-down and send one probe lookup (audited)."""
    if not request.user.is_staff:
        raise PermissionDenied
    source = request.POST.get("source")
    key = source_key(source) if source in sources() else None  # default: the preferred one
    done = resume.probe_now(f"{request.user.get_username()} (/ops/)", key)
    if done.was_open:
        messages.success(request, _("Pausa terminada: una consulta de prueba decide si seguimos."))
    else:
        messages.info(request, _("El circuito ya estaba cerrado."))
    return redirect("ops-dashboard")


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
