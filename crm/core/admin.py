"""Read-only admin for job progress and the audit log: history is never edited by hand."""

from django.contrib import admin

from crm.core.models import AuditEntry, Job


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "label",
        "status",
        "done",
        "total",
        "succeeded",
        "failed",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "kind")
    list_select_related = ("created_by",)
    search_fields = ("label",)


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id")
    list_filter = ("action", "object_type")
    list_select_related = ("actor",)
    search_fields = ("=object_id", "action")
    search_help_text = "Object id (exact) or action."
    date_hierarchy = "at"
