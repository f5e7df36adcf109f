from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from . import exports, imports, services
from .filters import ReferralFilters, apply_filters, count_by_place, filter_choices
from .forms import ALREADY_REGISTERED, ImportForm, ReferralForm
from .models import ImportBatch, Referral, Status

PAGE_SIZE = 25
# Report rows shown on the batch page; the counts always cover the whole file.
REPORT_ROWS_SHOWN = 500


def _own_referrals(request):
    return Referral.objects.filter(referred_by=request.user)


def _own_batches(request):
    return ImportBatch.objects.filter(created_by=request.user)


@login_required
def referral_list(request):
    own = _own_referrals(request)
    filters = ReferralFilters.from_params(request.GET)
    page = Paginator(apply_filters(own, filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "polling": any(r.is_in_flight for r in page),
        "filters": filters,
        "query": urlencode(filters.as_query()),
    }
    if request.htmx:
        return render(request, "referrals/_list_rows.html", context)
    context.update(filter_choices(own), has_any=own.exists())
    return render(request, "referrals/list.html", context)


@login_required
def referral_export(request):
    filters = ReferralFilters.from_params(request.GET)
    referrals = apply_filters(_own_referrals(request), filters).iterator(chunk_size=1000)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = StreamingHttpResponse(
        (line.encode() for line in exports.export_lines(referrals)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="referidos-{stamp}.csv"'
    return response


@login_required
def referral_places(request):
    groups = count_by_place(_own_referrals(request))
    return render(request, "referrals/places.html", {"groups": groups})


@login_required
@require_http_methods(["GET", "POST"])
def referral_create(request):
    form = ReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            referral = services.create_referral(
                user=request.user,
                cedula=form.cleaned_data["cedula"],
                full_name=form.cleaned_data["full_name"],
            )
        except services.AlreadyRegistered:
            form.add_error("cedula", ALREADY_REGISTERED)
        else:
            messages.success(request, _("Referido registrado. Lo estamos verificando."))
            return redirect(referral)
    return render(request, "referrals/create.html", {"form": form})


@login_required
def referral_detail(request, pk):
    referral = get_object_or_404(_own_referrals(request), pk=pk)
    template = "referrals/_detail_status.html" if request.htmx else "referrals/detail.html"
    return render(request, template, {"referral": referral, "Status": Status})


# --- bulk import -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    if request.method == "POST" and _body_too_big(request):
        # Checked before touching request.FILES, so an oversized upload is not parsed at all.
        form = ImportForm()
        form.add_error(None, imports.file_too_big_message())
    else:
        form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > imports.MAX_FILE_BYTES:
                raise imports.ImportFileError(imports.file_too_big_message())
            batch = imports.prepare_import(
                user=request.user, data=upload.read(), filename=upload.name or ""
            )
        except imports.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect(batch)
    batches = _own_batches(request).exclude(state=ImportBatch.State.CANCELLED)[:10]
    return render(request, "referrals/import_upload.html", {"form": form, "batches": batches})


def _body_too_big(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > imports.MAX_FILE_BYTES + 64 * 1024  # room for the multipart envelope


@login_required
def import_detail(request, pk):
    batch = get_object_or_404(_own_batches(request), pk=pk)
    progress = imports.batch_progress(batch)
    if request.htmx:
        return render(request, "referrals/_import_progress.html", {"batch": batch, "p": progress})
    rows = [dict(row, reason_text=imports.row_reason(row)) for row in batch.rows]
    return render(
        request,
        "referrals/import_detail.html",
        {
            "batch": batch,
            "p": progress,
            "counts": imports.outcome_counts(batch.rows),
            "rows": rows[:REPORT_ROWS_SHOWN],
            "rows_hidden": max(0, len(rows) - REPORT_ROWS_SHOWN),
        },
    )


@login_required
@require_POST
def import_confirm(request, pk):
    batch = get_object_or_404(_own_batches(request), pk=pk)
    result = imports.confirm_import(batch)
    if result.created:
        messages.success(
            request,
            ngettext(
                "%(n)d referido registrado. Los estamos verificando.",
                "%(n)d referidos registrados. Los estamos verificando.",
                result.created,
            )
            % {"n": result.created},
        )
    if result.taken_meanwhile:
        messages.warning(
            request,
            ngettext(
                "%(n)d cédula fue registrada por alguien más mientras revisabas el archivo.",
                "%(n)d cédulas fueron registradas por alguien más mientras revisabas el archivo.",
                result.taken_meanwhile,
            )
            % {"n": result.taken_meanwhile},
        )
    return redirect(batch)


@login_required
@require_POST
def import_cancel(request, pk):
    batch = get_object_or_404(_own_batches(request), pk=pk)
    if imports.cancel_import(batch):
        messages.info(request, _("Importación cancelada: no se registró ninguna cédula."))
    return redirect("referrals:import")
