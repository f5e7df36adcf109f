from django.contrib import admin

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "owner", "created_at", "failing_since", "disabled_at")
    list_filter = ("disabled_at",)
    exclude = ("secret",)
    readonly_fields = ("owner", "failing_since", "disabled_at", "disabled_reason")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_id", "event_type", "endpoint", "state", "attempts", "created_at")
    list_filter = ("state", "event_type")
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False  # events are queued by the pipeline only


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ("delivery", "number", "started_at", "status_code", "ok", "error")
    readonly_fields = [f.name for f in WebhookAttempt._meta.fields]

    def has_add_permission(self, request):
        return False  # attempts are logged by the delivery task only
