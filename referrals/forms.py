from django import forms
from django.utils.translation import gettext_lazy as _

from .cedula import InvalidCedula, normalize_cedula
from .models import Referral

ALREADY_REGISTERED = _("Esta cédula ya está registrada en el programa.")


class ReferralForm(forms.Form):
    cedula = forms.CharField(
        label=_("Cédula"),
        max_length=40,
        help_text=_("Puedes escribirla con puntos o espacios: 1.020.304.050"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    full_name = forms.CharField(
        label=_("Nombre completo (opcional)"), max_length=200, required=False
    )

    def clean_cedula(self):
        try:
            cedula = normalize_cedula(self.cleaned_data["cedula"])
        except InvalidCedula as exc:
            raise forms.ValidationError(exc.translated()) from None
        if Referral.objects.filter(cedula=cedula).exists():
            raise forms.ValidationError(ALREADY_REGISTERED)
        return cedula

    def clean_full_name(self):
        name = self.cleaned_data["full_name"]
        if "\x00" in name:
            raise forms.ValidationError(_("El nombre tiene caracteres no válidos."))
        return " ".join(name.split())


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Archivo CSV o Excel (.xlsx)"),
        help_text=_(
            "Una fila por persona: la cédula y, si quieres, el nombre. "
            "Hasta 5.000 filas y 2 MB por archivo."
        ),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".csv,.txt,.xlsx,text/csv,application/vnd.ms-excel"}
        ),
    )
