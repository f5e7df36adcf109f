from django import forms
from django.utils.translation import gettext_lazy as _

from .cedula import InvalidCedula, clean_cedula


class ReferralForm(forms.Form):
    existing = None  # the referral that already has this cédula, when the user may see it
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
            cedula = clean_cedula(self.cleaned_data["cedula"])
        except InvalidCedula as exc:
            raise forms.ValidationError(exc.translated()) from None
        # A cédula already in the program is answered by the service (referrals.services:
        # the same neutral words to everyone who may not see it).
        return cedula

    def clean_full_name(self):
        name = self.cleaned_data["full_name"]
        if "\x00" in name:
            raise forms.ValidationError(_("El nombre tiene caracteres no válidos."))
        return " ".join(name.split())


class AttestedReferralForm(ReferralForm):
    """The portal's add form: the leader attests that the person authorized the handling of
    their data under the policy in force (Ley 1581 de 2012): no referral without it."""

    authorized = forms.BooleanField(
        label=_(
            "Certifico que esta persona me autorizó a registrar sus datos personales según la "
            "política de tratamiento de datos."
        ),
        required=True,
        error_messages={"required": _("Sin la autorización de la persona no podemos registrarla.")},
    )


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
        # Our own words, not Django's catalogue: another app's catalogue (DRF's Spanish one
        # says "vació") may win for Django's msgid.
        error_messages={"empty": _("El archivo está vacío.")},
    )


class SelfRegistrationForm(ReferralForm):
    """A referred person registering themselves: their name is required, and so is accepting
    the data policy in force (its version is recorded with the referral)."""

    full_name = forms.CharField(label=_("Nombre completo"), max_length=200)
    accept_policy = forms.BooleanField(
        label=_("Acepto la política de tratamiento de datos personales"),
        required=True,
        error_messages={"required": _("Para registrarte debes aceptar la política de datos.")},
    )
