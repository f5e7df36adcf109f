from django.urls import path

from . import views

app_name = "referrals"

urlpatterns = [
    path("", views.referral_list, name="list"),
    path("nuevo/", views.referral_create, name="create"),
    path("exportar.csv", views.referral_export, name="export"),
    path("por-puesto/", views.referral_places, name="places"),
    path("panel/", views.campaign_dashboard, name="dashboard"),
    path("verificar-de-nuevo/", views.referral_reverify, name="reverify"),
    path("mi-enlace/", views.my_link, name="my-link"),
    path("mi-enlace/qr.svg", views.my_link_qr, name="my-link-qr"),
    path("importar/", views.import_upload, name="import"),
    path("importar/<int:pk>/", views.import_detail, name="import-detail"),
    path("importar/<int:pk>/confirmar/", views.import_confirm, name="import-confirm"),
    path("importar/<int:pk>/cancelar/", views.import_cancel, name="import-cancel"),
    path("repetidas/", views.claim_list, name="claims"),
    path("repetidas/<int:pk>/resolver/", views.claim_resolve, name="claim-resolve"),
    path("<int:pk>/", views.referral_detail, name="detail"),
    path("<int:pk>/borrar/", views.referral_remove, name="remove"),
]
