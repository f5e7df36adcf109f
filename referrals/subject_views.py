"""A data subject's requests (Ley 1581 de 2012): a manager looks a cédula up, hands the person a
file of what the portal holds, corrects the name or deletes everything. The cédula travels in
POST bodies only (never in a URL, where logs and browser history would keep it)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from campaigns import selectors as people
from campaigns.models import Role
from privacy import audit

from . import subjects
from .cedula import InvalidCedula


def _require_manager(request):
    if people.role_of(request.user) != Role.MANAGER:
        raise PermissionDenied


def _subject(request):
    """The subject named by the POSTed cédula, or None with the form's error."""
    try:
        return subjects.find_subject(request.POST.get("cedula", "")), ""
    except InvalidCedula as exc:
        return None, exc.translated()


@login_required
@require_http_methods(["GET", "POST"])
def lookup(request):
    _require_manager(request)
    data, error = (None, "")
    if request.method == "POST":
        data, error = _subject(request)
        if data is not None:
            audit.record(
                audit.Action.SUBJECT_LOOKED_UP,
                request=request,
                subject=data.cedula,
                found=data.found,
            )
    return render(request, "referrals/subject.html", {"data": data, "error": error})


@login_required
@require_POST
def report(request):
    _require_manager(request)
    data, error = _subject(request)
    if data is None:
        return render(request, "referrals/subject.html", {"error": error}, status=400)
    body = subjects.report_file(data=data, actor=request.user, request=request)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="datos-titular-{stamp}.json"'
    return response


@login_required
@require_POST
def correct(request):
    _require_manager(request)
    data, error = _subject(request)
    if data is None or data.referral is None:
        return render(request, "referrals/subject.html", {"error": error, "data": data}, status=400)
    subjects.correct_subject(
        actor=request.user,
        referral=data.referral,
        full_name=request.POST.get("full_name", ""),
        request=request,
    )
    messages.success(request, _("Nombre corregido."))
    return render(request, "referrals/subject.html", {"data": subjects.find_subject(data.cedula)})


@login_required
@require_POST
def erase(request):
    _require_manager(request)
    data, error = _subject(request)
    if data is None:
        return render(request, "referrals/subject.html", {"error": error}, status=400)
    if request.POST.get("confirm") != "on":
        context = {"data": data, "error": _("Marca la casilla para confirmar el borrado.")}
        return render(request, "referrals/subject.html", context, status=400)
    counts = subjects.erase_cedula(cedula=data.cedula, actor=request.user, request=request)
    messages.success(
        request,
        _("Datos borrados: %(referral)d referido y %(rows)d filas de importaciones.")
        % {"referral": counts["referral"], "rows": counts["import_rows"]},
    )
    return redirect("subjects:lookup")
