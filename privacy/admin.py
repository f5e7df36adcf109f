from django.contrib import admin

from .models import AuditEntry, PolicyAcceptance, PolicyVersion


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Publishing a version puts it in force; people who accepted an earlier one are asked to
    accept it again. A published version is read-only: people accepted that text."""

    list_display = ["version", "controller", "published_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["published_at"]
        return [f.name for f in self.model._meta.fields]

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the product writes and nobody edits: shown, never added, changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PolicyAcceptance)
class PolicyAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["user", "version", "accepted_at"]
    list_filter = ["version"]
    search_fields = ["user__username"]
    list_select_related = ["user"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log is append-only (the portal's /privacidad/auditoria/ exports it)."""

    list_display = ["at", "actor_name", "action", "target_type", "target_id", "address"]
    list_filter = ["action"]
    search_fields = ["actor_name", "subject_hash", "target_id"]
    date_hierarchy = "at"
