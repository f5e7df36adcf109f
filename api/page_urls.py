from django.urls import path

from . import pages

urlpatterns = [
    path("", pages.integrations, name="integrations"),
    path("tokens/", pages.token_create, name="token-create"),
    path("tokens/<int:pk>/revocar/", pages.token_revoke, name="token-revoke"),
    path("webhooks/", pages.webhook_create, name="webhook-create"),
    path("webhooks/<int:pk>/activar/", pages.webhook_enable, name="webhook-enable"),
    path("webhooks/<int:pk>/borrar/", pages.webhook_delete, name="webhook-delete"),
]
