from django import forms
from django.utils.translation import gettext_lazy as _

from webhooks.models import Event


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Nombre del token"),
        max_length=100,
        help_text=_("Para reconocerlo después, p. ej. «CRM de la campaña»."),
    )


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=_("URL que recibe los eventos"), max_length=500, assume_scheme="https"
    )
    description = forms.CharField(label=_("Descripción (opcional)"), max_length=200, required=False)
    events = forms.MultipleChoiceField(
        label=_("Eventos"),
        choices=Event.choices,
        initial=[Event.REFERRAL_FINISHED],
        widget=forms.CheckboxSelectMultiple,
    )
