from django import forms
from django.utils.translation import gettext_lazy as _

from . import selectors
from .models import Role, Team


class InvitationForm(forms.Form):
    role = forms.ChoiceField(label=_("Rol"))
    team = forms.ModelChoiceField(
        label=_("Equipo"),
        queryset=Team.objects.none(),
        required=False,
        empty_label=_("— Ninguno (coordinador: equipo nuevo; observador: toda la campaña) —"),
    )
    days = forms.IntegerField(label=_("Vence en (días)"), min_value=1, max_value=90, initial=7)
    max_uses = forms.IntegerField(label=_("Usos permitidos"), min_value=1, max_value=500, initial=1)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        roles = selectors.invitable_roles(actor)
        self.fields["role"].choices = [(r, Role(r).label) for r in roles]
        self.fields["team"].queryset = selectors.manageable_teams(actor)
        if selectors.role_of(actor) == Role.COORDINATOR:
            self.fields["team"].required = True
            self.fields["team"].empty_label = None


class MemberForm(forms.Form):
    team = forms.ModelChoiceField(
        label=_("Equipo"),
        queryset=Team.objects.none(),
        required=False,
        empty_label=_("Sin equipo (observador: toda la campaña)"),
    )
    goal = forms.IntegerField(label=_("Meta"), min_value=0, max_value=1_000_000)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = selectors.manageable_teams(actor)
        if selectors.role_of(actor) != Role.MANAGER:
            self.fields["team"].required = True
            self.fields["team"].empty_label = None


class GoalForm(forms.Form):
    goal = forms.IntegerField(label=_("Meta"), min_value=0, max_value=1_000_000)
