from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm
from django.contrib.auth.models import User
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from privacy import policy


class SignUpForm(UserCreationForm):
    """A new account accepts the data policy in force (privacy.policy records which version)."""

    accept_policy = forms.BooleanField(
        label=_("Leí y acepto la política de tratamiento de datos personales"),
        required=True,
        error_messages={"required": _("Para crear la cuenta debes aceptar la política de datos.")},
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The version shown is the one accepted, even if another is published meanwhile.
        self.policy_version = policy.current_version()


class BoundedUsernameMixin:
    """Django's log-in forms give the username field a max_length only as a widget attribute
    (set after the field is built, so no validator runs): a 5,000-character username reached
    authenticate(), and django-axes then failed to record the failure (varchar(255)) with a
    server error on PostgreSQL. Too long a username is simply a failed log-in here."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))


class LoginForm(BoundedUsernameMixin, AuthenticationForm):
    pass


class AdminLoginForm(BoundedUsernameMixin, AdminAuthenticationForm):
    pass
