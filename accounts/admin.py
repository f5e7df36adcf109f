from django.contrib import admin

from .forms import AdminLoginForm

# The admin log-in gets the same bounded username as the portal's (see BoundedUsernameMixin).
admin.site.login_form = AdminLoginForm
