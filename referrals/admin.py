from django.contrib import admin, messages

from . import services
from .models import ImportBatch, Referral, ScrapeAttempt


class ScrapeAttemptInline(admin.TabularInline):
    model = ScrapeAttempt
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in ScrapeAttempt._meta.fields]


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = [
        "cedula",
        "full_name",
        "status",
        "municipio",
        "puesto",
        "referred_by",
        "attempts",
        "created_at",
    ]
    list_filter = [
        "status",
        "census_status",
        ("stale_flagged_at", admin.EmptyFieldListFilter),
        "departamento",
        "created_at",
    ]
    search_fields = ["cedula", "full_name", "referred_by__username", "municipio", "puesto"]
    readonly_fields = [
        "created_at",
        "updated_at",
        "last_attempt_at",
        "finished_at",
        "claimed_by",
        "claimed_at",
        "census_raw",
    ]
    list_select_related = ["referred_by"]
    date_hierarchy = "created_at"
    actions = ["verify_again"]
    inlines = [ScrapeAttemptInline]
    raw_id_fields = ["import_batch"]

    @admin.action(description="Verificar de nuevo")
    def verify_again(self, request, queryset):
        count = services.requeue_referrals(queryset)
        self.message_user(request, f"{count} referidos en cola de nuevo.", messages.SUCCESS)


@admin.register(ScrapeAttempt)
class ScrapeAttemptAdmin(admin.ModelAdmin):
    list_display = ["referral", "started_at", "outcome", "error_class", "duration_ms"]
    list_filter = ["outcome", "error_class", "started_at"]
    search_fields = ["referral__cedula", "task_id"]
    list_select_related = ["referral"]
    raw_id_fields = ["referral"]


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["filename", "created_by", "state", "created_at", "confirmed_at"]
    list_filter = ["state", "created_at"]
    search_fields = ["filename", "created_by__username"]
    list_select_related = ["created_by"]
    # The rows are the user's report; the admin shows them, never edits them.
    readonly_fields = ["created_by", "filename", "state", "rows", "created_at", "confirmed_at"]
