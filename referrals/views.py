import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from campaigns import selectors as people
from campaigns import services as people_services
from campaigns.models import Role
from privacy import audit
from privacy import policy as privacy_policy

from . import dashboard, exports, imports, quotas, selectors, services
from .filters import ReferralFilters, apply_filters, count_by_place, filter_choices
from .forms import AttestedReferralForm, ImportForm, SelfRegistrationForm
from .models import ConsentMethod, ImportBatch, Status

PAGE_SIZE = 25
# Report rows shown on the batch page; the counts always cover the whole file.
REPORT_ROWS_SHOWN = 500


def _readable_rows(request):
    """The referrals the user may read row by row (viewers: counts only, 403)."""
    if not selectors.can_read_rows(request.user):
        raise PermissionDenied
    return selectors.visible_referrals(request.user)


def _require_acting(request):
    if not people.can_act(request.user):
        raise PermissionDenied


@login_required
def referral_list(request):
    if not selectors.can_read_rows(request.user):
        return redirect("referrals:dashboard")  # a viewer's home: the counts
    visible = selectors.visible_referrals(request.user)
    filters = ReferralFilters.from_params(request.GET)
    filtered = apply_filters(visible, filters)
    page = Paginator(filtered.select_related("referred_by"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    referrers = list(selectors.referrers_in_scope(request.user))
    context = {
        "page": page,
        "polling": any(r.is_in_flight for r in page),
        "filters": filters,
        "query": urlencode(filters.as_query()),
        "show_leader": len(referrers) > 1 or people.manages_people(request.user),
    }
    if request.htmx:
        return render(request, "referrals/_list_rows.html", context)
    audit.record(
        audit.Action.LIST_VIEWED, request=request, filters=filters.as_query(), page=page.number
    )
    context.update(
        filter_choices(visible, filters),
        has_any=visible.exists(),
        referrers=referrers,
        reverify_count=services.reverify_eligible(filtered).count(),
        progress=dashboard.leader_progress(request.user),
        own_list=not people.manages_people(request.user),
        open_claims=services.open_claims(request.user).filter(resolved_at__isnull=True).count(),
    )
    return render(request, "referrals/list.html", context)


@login_required
def referral_export(request):
    filters = ReferralFilters.from_params(request.GET)
    chosen = apply_filters(_readable_rows(request), filters)
    audit.record(
        audit.Action.EXPORTED, request=request, filters=filters.as_query(), rows=chosen.count()
    )
    referrals = chosen.iterator(chunk_size=1000)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    lines = exports.export_lines(referrals, exported_by=request.user.get_username())
    response = StreamingHttpResponse(
        (line.encode() for line in lines),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="referidos-{stamp}.csv"'
    return response


@login_required
def referral_places(request):
    groups = count_by_place(selectors.visible_referrals(request.user))
    return render(request, "referrals/places.html", {"groups": groups})


@login_required
@require_http_methods(["GET", "POST"])
def referral_create(request):
    _require_acting(request)
    form = AttestedReferralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            referral = services.create_referral(
                user=request.user,
                cedula=form.cleaned_data["cedula"],
                full_name=form.cleaned_data["full_name"],
                authorization=services.authorization(
                    ConsentMethod.LEADER_ATTESTATION, by=request.user
                ),
            )
        except services.AlreadyRegistered as exc:
            form.existing = exc.referral
            form.add_error("cedula", exc.message)
        except services.DailyCapReached as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Referido registrado. Lo estamos verificando."))
            return redirect(referral)
    context = {"form": form, "policy": privacy_policy.current_policy()}
    return render(request, "referrals/create.html", context)


@login_required
def referral_detail(request, pk):
    referral = get_object_or_404(_readable_rows(request), pk=pk)
    if request.htmx:  # the status poll: the page's own view was recorded when it opened
        context = {"referral": referral, "Status": Status}
        return render(request, "referrals/_detail_status.html", context)
    audit.record(audit.Action.REFERRAL_VIEWED, request=request, target=referral)
    template = "referrals/detail.html"
    context = {
        "referral": referral,
        "can_remove": services.can_remove(request.user, referral),
        "Status": Status,
        "can_reverify": services.reverify_eligible(
            selectors.actable_referrals(request.user).filter(pk=referral.pk)
        ).exists(),
    }
    return render(request, template, context)


@login_required
@require_POST
def referral_reverify(request):
    """Verify again: one referral (`pk`) or every eligible one of the list's filters."""
    actable = selectors.actable_referrals(request.user)
    if not people.can_act(request.user):
        raise PermissionDenied
    pk = request.POST.get("pk", "")
    if pk.isascii() and pk.isdigit():
        chosen = actable.filter(pk=int(pk))
        back = redirect("referrals:detail", pk=int(pk)) if chosen.exists() else None
    else:
        filters = ReferralFilters.from_params(request.POST)
        chosen = apply_filters(actable, filters)
        query = urlencode(filters.as_query())
        back = redirect(reverse("referrals:list") + (f"?{query}" if query else ""))
    if back is None:
        raise Http404
    result = services.reverify_referrals(actor=request.user, referrals=chosen)
    # One message per outcome that happened, in this order.
    outcomes = (
        (
            messages.SUCCESS,
            result.queued,
            ngettext(
                "%(n)d referido en cola para verificarlo de nuevo.",
                "%(n)d referidos en cola para verificarlos de nuevo.",
                result.queued,
            ),
        ),
        (
            messages.WARNING,
            result.cooling,
            ngettext(
                "%(n)d referido ya se pidió de nuevo hace poco: espera antes de repetirlo.",
                "%(n)d referidos ya se pidieron de nuevo hace poco: espera antes de repetirlo.",
                result.cooling,
            ),
        ),
        (
            messages.WARNING,
            result.capped,
            ngettext(
                "%(n)d referido quedó fuera: llegaste al límite de %(cap)d por día.",
                "%(n)d referidos quedaron fuera: llegaste al límite de %(cap)d por día.",
                result.capped,
            ),
        ),
    )
    for level, count, text in outcomes:
        if count:
            messages.add_message(
                request, level, text % {"n": count, "cap": settings.REVERIFY_DAILY_CAP}
            )
    if not (result.queued or result.cooling or result.capped):
        messages.info(request, _("No hay referidos para verificar de nuevo."))
    return back


@login_required
def campaign_dashboard(request):
    """Counts for each role's place in the tree; each number links to the filtered list (for
    those who may read the list)."""
    context = {
        "f": dashboard.figures(request.user),
        "links": selectors.can_read_rows(request.user),
        # Coordinators and managers compare their leaders; a viewer reads counts, not people.
        "ranked": people.role_of(request.user) in (Role.COORDINATOR, Role.MANAGER),
    }
    return render(request, "referrals/dashboard.html", context)


@login_required
def my_link(request):
    """The leader's personal self-registration link, with its QR code to print or show."""
    _require_acting(request)
    membership = people.membership_of(request.user) or people_services.ensure_membership(
        request.user
    )
    url = request.build_absolute_uri(reverse("self-register", args=[membership.signup_code]))
    return render(request, "referrals/my_link.html", {"url": url})


@login_required
def my_link_qr(request):
    _require_acting(request)
    membership = people.membership_of(request.user) or people_services.ensure_membership(
        request.user
    )
    url = request.build_absolute_uri(reverse("self-register", args=[membership.signup_code]))
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2)
    return HttpResponse(svg, content_type="image/svg+xml")


@require_http_methods(["GET", "POST"])
def self_register(request, code):
    """Public: a person referred by a leader registers their own cédula from a phone."""
    leader = people.leader_by_code(code)
    if leader is None:
        raise Http404
    form = SelfRegistrationForm(request.POST or None)
    if request.method == "POST":
        address = request.META.get("REMOTE_ADDR", "")
        if not services.self_registration_allowed(address=address, code=code):
            context = {
                "form": SelfRegistrationForm(),
                "limited": True,
                "policy": privacy_policy.current_policy(),
            }
            return render(request, "referrals/self_register.html", context, status=429)
        if form.is_valid():
            try:
                services.register_through_link(
                    leader=leader,
                    cedula=form.cleaned_data["cedula"],
                    full_name=form.cleaned_data["full_name"],
                    accepted=form.cleaned_data["accept_policy"],
                )
            except services.AlreadyRegistered as exc:
                form.add_error("cedula", exc.message)
            else:
                return render(request, "referrals/self_register_done.html")
    return render(
        request,
        "referrals/self_register.html",
        {"form": form, "policy": privacy_policy.current_policy()},
    )


# --- bulk import -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request):
    _require_acting(request)
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
    batches = selectors.own_batches(request.user).exclude(state=ImportBatch.State.CANCELLED)[:10]
    return render(request, "referrals/import_upload.html", {"form": form, "batches": batches})


def _body_too_big(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > imports.MAX_FILE_BYTES + 64 * 1024  # room for the multipart envelope


@login_required
def import_detail(request, pk):
    batch = get_object_or_404(selectors.visible_batches(request.user), pk=pk)
    progress = imports.batch_progress(batch)
    if request.htmx:
        return render(request, "referrals/_import_progress.html", {"batch": batch, "p": progress})
    return render(
        request,
        "referrals/import_detail.html",
        {
            "batch": batch,
            "p": progress,
            "counts": imports.outcome_counts(batch.rows),
            "rows": imports.report_rows(batch, REPORT_ROWS_SHOWN),
            "rows_hidden": max(0, len(batch.rows) - REPORT_ROWS_SHOWN),
            "is_uploader": batch.created_by_id == request.user.pk,
            "policy": privacy_policy.current_policy(),
            "left_today": quotas.left_today(quotas.NEW_REFERRALS, request.user),
        },
    )


@login_required
@require_POST
def import_confirm(request, pk):
    batch = get_object_or_404(selectors.own_batches(request.user), pk=pk)
    try:
        result = imports.confirm_import(
            batch, attested=request.POST.get("authorized") == "on", request=request
        )
    except imports.ImportNotAttested:
        messages.error(
            request,
            _(
                "Para registrar el archivo confirma que todas las personas de la lista te "
                "autorizaron a registrar sus datos."
            ),
        )
        return redirect(batch)
    except services.DailyCapReached as exc:
        messages.error(request, exc.message)
        return redirect(batch)
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
                "%(n)d cédula no se pudo registrar: mira el detalle fila por fila.",
                "%(n)d cédulas no se pudieron registrar: mira el detalle fila por fila.",
                result.taken_meanwhile,
            )
            % {"n": result.taken_meanwhile},
        )
    return redirect(batch)


@login_required
@require_POST
def import_cancel(request, pk):
    batch = get_object_or_404(selectors.own_batches(request.user), pk=pk)
    if imports.cancel_import(batch):
        messages.info(request, _("Importación cancelada: no se registró ninguna cédula."))
    return redirect("referrals:import")


# --- removing a referral typed by mistake; duplicate claims ------------------------------------


@login_required
@require_POST
def referral_remove(request, pk):
    """The person who typed a referral removes it (a mistake): it is deleted with every copy."""
    referral = get_object_or_404(_readable_rows(request), pk=pk)
    if not services.can_remove(request.user, referral):
        raise PermissionDenied
    services.remove_referral(actor=request.user, referral=referral, request=request)
    messages.success(request, _("Referido borrado, con todos sus datos."))
    return redirect("referrals:list")


@login_required
def claim_list(request):
    """Cédulas someone tried to register again while they belong to this team: the neutral
    answer they got, and what the coordinator (or the manager) decides."""
    if not people.manages_people(request.user):
        raise PermissionDenied
    claims = services.open_claims(request.user).order_by("resolved_at", "-created_at")[:500]
    return render(request, "referrals/claims.html", {"claims": claims})


@login_required
@require_POST
def claim_resolve(request, pk):
    claim = get_object_or_404(services.open_claims(request.user), pk=pk)
    services.resolve_claim(
        actor=request.user,
        claim=claim,
        resolution=request.POST.get("resolution", ""),
        request=request,
    )
    messages.success(request, _("Cédula repetida marcada como resuelta."))
    return redirect("referrals:claims")
