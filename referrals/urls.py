from django.urls import path

from . import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_list, name="list"),
    path("nuevo/", views.referral_create, name="create"),
    path("exportar.csv", views.referral_export, name="export"),
    path("por-puesto/", views.referral_places, name="places"),
    path("importar/", views.import_upload, name="import"),
    path("importar/<int:pk>/", views.import_detail, name="import-detail"),
    path("importar/<int:pk>/confirmar/", views.import_confirm, name="import-confirm"),
    path("importar/<int:pk>/cancelar/", views.import_cancel, name="import-cancel"),
    path("<int:pk>/", views.referral_detail, name="detail"),
]
