from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from . import services
from .forms import ALREADY_REGISTERED, ReferralForm
from .models import Referral, Status

PAGE_SIZE = 25


def _own_referrals(request):
    return Referral.objects.filter(referred_by=request.user)


@login_required
def referral_list(request):
    page = Paginator(_own_referrals(request), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "polling": any(r.is_in_flight for r in page)}
    template = "referrals/_list_rows.html" if request.htmx else "referrals/list.html"
    return render(request, template, context)


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
