from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="referrals:list", permanent=False)),
    path("referidos/", include("referrals.urls")),
    path("cuenta/", include("accounts.urls")),
    path("integraciones/", include("api.page_urls")),
    path("api/v1/", include("api.urls")),
    path("equipo/", include("campaigns.urls")),
    path("privacidad/", include("privacy.urls")),
    path("privacidad/titulares/", include("referrals.subject_urls")),
    path("r/", include("referrals.public_urls")),  # self-registration: no login
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("ops.urls")),
]
