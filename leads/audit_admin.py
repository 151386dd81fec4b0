"""The audit log in Django's admin: read-only (nobody adds, changes or deletes an entry here)."""

from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor_label", "action", "target_type", "target_id"]
    list_filter = ["action", "at"]
    search_fields = ["actor_label", "=target_id"]
    date_hierarchy = "at"
    readonly_fields = ["at", "actor", "actor_label", "action", "target_type", "target_id", "detail"]
    list_select_related = ["actor"]
    show_full_result_count = False  # a COUNT(*) over a long log on every page: not worth it

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
