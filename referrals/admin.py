from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from privacy import audit
from privacy.admin import ReadOnlyAdmin

from . import services, subjects
from .audit import record_staff_action
from .models import CutoverRecord, ImportBatch, Referral, ScrapeAttempt


class ScrapeAttemptInline(admin.TabularInline):
    model = ScrapeAttempt
    extra = 0
    can_delete = False
    # The raw answer is long: read on the attempt's own page.
    readonly_fields = [f.name for f in ScrapeAttempt._meta.fields if f.name != "raw_answer"]
    exclude = ["raw_answer"]


STAFF_EDITABLE_FIELDS = ("full_name", "referred_by")


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
    # Staff may fix the name and reassign the leader; everything else is the pipeline's to write
    # (status, cédula, census data, bookkeeping): a cédula changed by hand would keep the previous
    # person's census data, a status changed by hand would skip verification. "Verificar de
    # nuevo" is the way to get a fresh answer. Referrals come in through the portal (the
    # services publish their verification), never added here.
    readonly_fields = [
        f.name
        for f in Referral._meta.fields
        if f.name not in ("id", "last_error", *STAFF_EDITABLE_FIELDS)
    ] + ["last_error_shown"]
    exclude = ["last_error"]  # shown translated, read-only (last_error_shown)
    list_select_related = ["referred_by"]
    date_hierarchy = "created_at"
    actions = ["verify_again"]
    inlines = [ScrapeAttemptInline]
    raw_id_fields = ["referred_by"]

    def has_add_permission(self, request):
        return False

    # Deleting here deletes like a data subject's request: every copy (import rows, kept API
    # answers, webhook payloads), audited with a keyed hash instead of the cédula.
    def delete_model(self, request, obj):
        subjects.erase_cedula(
            cedula=obj.cedula, actor=request.user, request=request, reason="admin"
        )

    def delete_queryset(self, request, queryset):
        for cedula in queryset.values_list("cedula", flat=True):
            subjects.erase_cedula(
                cedula=cedula, actor=request.user, request=request, reason="admin"
            )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            record_staff_action(
                request.user,
                Referral.objects.filter(pk=obj.pk),
                f"changed: {', '.join(form.changed_data)}",
                action=audit.Action.CORRECTED,
            )

    @admin.display(description=_("último error"))
    def last_error_shown(self, referral):
        # Stored in Spanish (the msgid of pipeline.verification's texts): shown translated.
        return gettext(referral.last_error) if referral.last_error else ""

    # Re-queueing writes the referral (status, claim): the change permission, not just view.
    @admin.action(description=_("Verificar de nuevo"), permissions=["change"])
    def verify_again(self, request, queryset):
        count = services.requeue_referrals(queryset)
        record_staff_action(
            request.user,
            queryset,
            "Verificar de nuevo: en cola de nuevo.",
            action=audit.Action.REVERIFIED,
        )
        self.message_user(
            request,
            ngettext("%(n)d referido en cola de nuevo.", "%(n)d referidos en cola de nuevo.", count)
            % {"n": count},
            messages.SUCCESS,
        )


@admin.register(ScrapeAttempt)
class ScrapeAttemptAdmin(admin.ModelAdmin):
    list_display = ["referral", "started_at", "source", "outcome", "error_class", "duration_ms"]
    list_filter = ["source", "outcome", "error_class", "started_at"]
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


@admin.register(CutoverRecord)
class CutoverRecordAdmin(ReadOnlyAdmin):
    """What `cutover_from_django_q` carried over: read-only (deleting a record would let a
    second run import its row, or publish its verification, again)."""

    list_display = ["source", "kind", "source_key", "target_id", "old_status", "published"]
    list_filter = ["source", "kind", "published", "old_status"]
    search_fields = ["source_key"]
