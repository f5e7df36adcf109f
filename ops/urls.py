from django.urls import path

from . import health, metrics_view, views

urlpatterns = [
    path("ops/", views.dashboard, name="ops-dashboard"),
    path("ops/circuito/probar/", views.probe_now, name="ops-probe-now"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("healthz/pipeline", health.pipeline, name="healthz-pipeline"),
    path("metrics", metrics_view.metrics, name="metrics"),
]
