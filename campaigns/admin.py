from django.contrib import admin

from . import services
from .models import Invitation, Membership, Team


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "coordinator", "goal", "created_at"]
    search_fields = ["name", "coordinator__username"]
    raw_id_fields = ["coordinator"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "team", "goal"]
    list_filter = ["role", "team"]
    search_fields = ["user__username"]
    list_select_related = ["user", "team"]
    raw_id_fields = ["user"]

    def save_model(self, request, obj, form, change):
        """Role changes and team moves made here go to the audit log, like the portal's."""
        before = Membership.objects.select_related("team").filter(pk=obj.pk).first()
        super().save_model(request, obj, form, change)
        old_role = before.role if before else None
        if old_role != obj.role:
            services.record_role_change(
                actor=request.user, membership=obj, old_role=old_role, request=request, via="admin"
            )
        if before is not None and before.team_id != obj.team_id:
            services.record_team_move(
                actor=request.user, membership=before, team=obj.team, request=request
            )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["role", "team", "created_by", "uses", "max_uses", "expires_at", "revoked_at"]
    list_filter = ["role"]
    list_select_related = ["team", "created_by"]
    raw_id_fields = ["created_by"]
    # The token is a credential: shown in the portal to its maker, not listed here.
    exclude = ["token"]
