from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from referrals import ops_views

from . import health

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="referrals:list", permanent=False)),
    path("referidos/", include("referrals.urls")),
    path("cuenta/", include("accounts.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("ops/", ops_views.dashboard, name="ops-dashboard"),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("healthz/pipeline", health.pipeline, name="healthz-pipeline"),
]
