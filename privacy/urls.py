from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("", views.notice, name="notice"),
    path("politica/", views.data_policy, name="policy"),
    path("aceptar/", views.accept, name="accept"),
    path("auditoria/", views.audit_log, name="audit"),
    path("auditoria.csv", views.audit_export, name="audit-export"),
]
