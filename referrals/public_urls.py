"""The one public page of the portal's domain: a leader's self-registration link."""

from django.urls import path

from . import views

urlpatterns = [
    path("<str:code>/", views.self_register, name="self-register"),
]
