from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import views

app_name = "api"

urlpatterns = [
    path("referrals/", views.ReferralList.as_view(), name="referral-list"),
    path("referrals/batch/", views.ReferralBatchCreate.as_view(), name="referral-batch"),
    path("referrals/counts/", views.StatusCounts.as_view(), name="referral-counts"),
    path("referrals/<int:pk>/", views.ReferralDetail.as_view(), name="referral-detail"),
    path(
        "referrals/<int:pk>/reverify/", views.ReferralReverify.as_view(), name="referral-reverify"
    ),
    # The schema and its docs are public: they describe the API, they hold no data.
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        # The split view serves its script as a file of this origin and the Swagger UI assets
        # come from drf-spectacular-sidecar: no CDN, no inline script. Its template keeps one
        # inline <style>: allowed on this page only (a style cannot run code; the page shows
        # no data).
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="api:schema", authentication_classes=[], permission_classes=[]
            )
        ),
        name="docs",
    ),
]
