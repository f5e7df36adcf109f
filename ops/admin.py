"""Alerts in the admin: every alert raised, by kind, open or resolved, delivered or not."""

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import Alert, CensusPageSnapshot


class KindFilter(admin.SimpleListFilter):
    title = _("tipo")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        keys = Alert.objects.order_by().values_list("key", flat=True).distinct()
        kinds = sorted({key.split(":", 1)[0] for key in keys})
        return [(kind, kind) for kind in kinds]

    def queryset(self, request, queryset):
        kind = self.value()
        if not kind:
            return queryset
        return queryset.filter(key=kind) | queryset.filter(key__startswith=f"{kind}:")


class OpenFilter(admin.SimpleListFilter):
    title = _("estado")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", _("Abiertas")), ("no", _("Resueltas"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(resolved_at__isnull=False)
        return queryset


class DeliveredFilter(admin.SimpleListFilter):
    title = _("entrega")
    parameter_name = "delivered"

    def lookups(self, request, model_admin):
        return [("yes", _("Entregadas")), ("no", _("Sin entregar"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(delivered_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(delivered_at__isnull=True)
        return queryset


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "key", "created_at", "is_open", "is_delivered", "delivery_error"]
    list_filter = [KindFilter, OpenFilter, DeliveredFilter, "created_at"]
    search_fields = ["key", "title", "body"]
    date_hierarchy = "created_at"
    actions = ["mark_resolved"]
    # The record of what on-call was told: read, never rewritten.
    readonly_fields = [
        "key",
        "title",
        "body",
        "created_at",
        "delivered_at",
        "delivery_error",
        "resolved_at",
    ]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description=_("abierta"), ordering="resolved_at")
    def is_open(self, alert):
        return alert.resolved_at is None

    @admin.display(boolean=True, description=_("entregada"), ordering="delivered_at")
    def is_delivered(self, alert):
        return alert.delivered_at is not None

    @admin.action(description=_("Marcar como resueltas"))
    def mark_resolved(self, request, queryset):
        count = queryset.filter(resolved_at__isnull=True).update(resolved_at=timezone.now())
        self.message_user(
            request,
            ngettext("%(n)d alerta resuelta.", "%(n)d alertas resueltas.", count) % {"n": count},
            messages.SUCCESS,
        )


@admin.register(CensusPageSnapshot)
class CensusPageSnapshotAdmin(admin.ModelAdmin):
    """The pages the drift canary saved: read-only, for the maintainer who adapts the client."""

    list_display = ("source", "taken_at", "url")
    list_filter = ("source",)
    readonly_fields = ("source", "url", "taken_at", "problems", "html")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
