"""The privacy notice and data policy (public), accepting a new version, the audit log."""

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from project.spreadsheet import csv_lines

from . import audit, policy, selectors
from .models import Action

PAGE_SIZE = 50
FILTERS = ("action", "actor", "since", "until", "subject_hash")


def notice(request):
    """Aviso de privacidad: public, short; links to the full policy."""
    return render(request, "privacy/notice.html", {"policy": policy.current_policy()})


def data_policy(request):
    """Política de tratamiento de datos personales: public."""
    return render(request, "privacy/policy.html", {"policy": policy.current_policy()})


@login_required
@require_http_methods(["GET", "POST"])
def accept(request):
    """A signed-in user reads the version in force and accepts it."""
    current = policy.current_policy()
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = ""
    error = False
    if request.method == "POST":
        if request.POST.get("accept") == "on":
            policy.accept(user=request.user, version=current.version, request=request)
            return redirect(target or "referrals:list")
        error = True
    context = {
        "policy": current,
        "next": target,
        "error": error,
        "again": bool(policy.accepted_versions(request.user)),
    }
    return render(request, "privacy/accept.html", context)


def _readable(request):
    if not selectors.can_read_audit(request.user):
        raise PermissionDenied
    params = {key: request.GET.get(key, "").strip() for key in FILTERS}
    return params, selectors.audit_entries(**params)


@login_required
def audit_log(request):
    params, entries = _readable(request)
    page = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = urlencode({k: v for k, v in params.items() if v})
    context = {"page": page, "params": params, "actions": Action.choices, "query": query}
    return render(request, "privacy/audit.html", context)


@login_required
def audit_export(request):
    """The filtered audit log as CSV (`;`, UTF-8 with BOM, like the referrals' export); the
    export itself is audited, and its last line says who exported it and when."""
    params, entries = _readable(request)
    count = entries.count()
    audit.record(Action.AUDIT_EXPORTED, request=request, filters=params, rows=count)
    stamp = timezone.localtime()
    header = [
        _("Cuándo"),
        _("Usuario"),
        _("Acción"),
        _("Objeto"),
        _("Id"),
        _("Titular (hash)"),
        _("Dirección IP"),
        _("Detalle"),
    ]
    rows = (
        [
            timezone.localtime(e.at).isoformat(timespec="seconds"),
            e.actor_name,
            e.get_action_display(),
            e.target_type,
            e.target_id,
            e.subject_hash,
            e.address or "",
            json.dumps(e.detail, ensure_ascii=False),
        ]
        for e in entries.iterator(chunk_size=1000)
    )
    footer = [
        _("Exportado por %(user)s el %(when)s")
        % {"user": request.user.get_username(), "when": stamp.strftime("%Y-%m-%d %H:%M")}
    ]
    response = StreamingHttpResponse(
        (line.encode() for line in csv_lines(header, rows, footer)),
        content_type="text/csv; charset=utf-8",
    )
    name = f"auditoria-{stamp:%Y%m%d-%H%M}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
