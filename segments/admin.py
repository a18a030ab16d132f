"""The admin of segments: superusers look segments up, rename them and start refreshes;
members and size history are read-only (written by the refresh and the upload).

Declarative first, hooks second. Nothing here writes segment rows itself: a rename calls
segments.services.definitions.update_segment (which audits it) and the refresh action calls
segments.services.refresh.start_segment_refresh. Rules are edited in the builder, so here
they are shown, not edited.
"""

import json

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.services import definitions, refresh


class SizeHistoryInline(admin.TabularInline):
    model = SegmentSizeSnapshot
    fields = ("at", "size")
    readonly_fields = fields
    ordering = ("-at",)
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "member_count", "last_refreshed_at", "updated_at")
    list_filter = ("kind",)
    search_fields = ("name", "description")
    ordering = ("name", "pk")
    fields = (
        "name",
        "description",
        "kind",
        "rules_pretty",
        "member_count",
        "last_refreshed_at",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = (
        "kind",
        "rules_pretty",
        "member_count",
        "last_refreshed_at",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    )
    list_select_related = ("updated_by",)
    inlines = (SizeHistoryInline,)
    actions = ("refresh_segments",)

    @admin.display(description="Rules")
    def rules_pretty(self, segment: Segment) -> str:
        text = json.dumps(segment.rules, indent=2, ensure_ascii=False) if segment.rules else ""
        return format_html('<pre class="rules-json">{}</pre>', text or "(an uploaded list)")

    def has_add_permission(self, request) -> bool:
        # Segments are built in the builder, where the rules are checked as they are edited.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Deleting is refused while campaigns or other segments use it; the segment page and
        # the API say which, the admin's cascade page would not.
        return False

    def save_model(self, request, obj, form, change):
        definitions.update_segment(
            segment=obj,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            actor=request.user,
            now=timezone.now(),
        )

    @admin.action(description="Refresh the selected segments")
    def refresh_segments(self, request, queryset):
        now = timezone.now()
        jobs = [
            refresh.start_segment_refresh(segment=segment, actor=request.user, now=now)
            for segment in queryset
        ]
        self.message_user(
            request,
            f"{len(jobs)} refresh{'es' if len(jobs) != 1 else ''} started.",
            messages.SUCCESS,
        )


@admin.register(SegmentMember)
class SegmentMemberAdmin(admin.ModelAdmin):
    list_display = ("segment", "customer", "added_at")
    list_select_related = ("segment", "customer")
    list_filter = ("segment",)
    search_fields = ("customer__customer_id",)
    raw_id_fields = ("segment", "customer")
    # Counting a million-row member table for every page is slow and nobody needs it.
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
