"""The user's Integraciones page: API tokens and webhook endpoints, each secret shown once."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from webhooks import selectors as webhook_selectors
from webhooks import services as webhook_services
from webhooks.addresses import UnsafeURL

from . import services
from .forms import TokenForm, WebhookForm
from .models import ApiToken


def _page(request, *, token_form=None, webhook_form=None, new_secret=None, status=200):
    context = {
        "tokens": ApiToken.objects.filter(user=request.user, revoked_at__isnull=True),
        "token_form": token_form or TokenForm(),
        "endpoints": webhook_selectors.endpoints_of(request.user),
        "attempts": webhook_selectors.recent_attempts(request.user),
        "webhook_form": webhook_form or WebhookForm(),
        "new_secret": new_secret,
    }
    return render(request, "api/integrations.html", context, status=status)


@login_required
def integrations(request):
    return _page(request)


@login_required
@require_POST
def token_create(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form, status=400)
    try:
        token, key = services.create_token(user=request.user, name=form.cleaned_data["name"])
    except services.TooManyTokens:
        form.add_error(None, _("Ya tienes el máximo de tokens activos: revoca alguno."))
        return _page(request, token_form=form, status=400)
    # Rendered, not redirected: the key exists only in this response.
    return _page(request, new_secret={"kind": "token", "name": token.name, "value": key})


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user, revoked_at__isnull=True)
    services.revoke_token(token)
    messages.info(request, _("Token revocado: ya no abre la API."))
    return redirect("integrations")


@login_required
@require_POST
def webhook_create(request):
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _page(request, webhook_form=form, status=400)
    try:
        endpoint, secret = webhook_services.register_endpoint(
            owner=request.user,
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data["description"],
        )
    except UnsafeURL:
        form.add_error(
            "url", _("Esa dirección no es pública: no enviamos eventos a redes privadas.")
        )
        return _page(request, webhook_form=form, status=400)
    except webhook_services.TooManyEndpoints:
        form.add_error(None, _("Ya tienes el máximo de webhooks: borra alguno."))
        return _page(request, webhook_form=form, status=400)
    return _page(request, new_secret={"kind": "webhook", "name": endpoint.url, "value": secret})


@login_required
@require_POST
def webhook_enable(request, pk):
    endpoint = get_object_or_404(webhook_selectors.endpoints_of(request.user), pk=pk)
    webhook_services.enable_endpoint(endpoint)
    messages.info(request, _("Webhook activado de nuevo."))
    return redirect("integrations")


@login_required
@require_POST
def webhook_delete(request, pk):
    endpoint = get_object_or_404(webhook_selectors.endpoints_of(request.user), pk=pk)
    webhook_services.delete_endpoint(endpoint)
    messages.info(request, _("Webhook borrado."))
    return redirect("integrations")
