"""Read-only admin of the campaigns' hourly facts and the customer base's monthly facts and
background computations: which build or computation the pages read, as of when, and its
job; they are written by their task only."""

from django.contrib import admin

from analytics.models import CampaignFacts, CustomerBaseFacts, CustomerBaseSnapshot
from crm.core.admin import ReadOnlyAdmin


@admin.register(CustomerBaseFacts)
class CustomerBaseFactsAdmin(ReadOnlyAdmin):
    list_display = ("pk", "as_of", "first_month", "customers", "built_at", "job")
    list_select_related = ("job",)


@admin.register(CustomerBaseSnapshot)
class CustomerBaseSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("pk", "first_day", "last_day", "segment", "as_of", "job")
    list_filter = ("segment",)
    list_select_related = ("job", "segment")
    exclude = ("data",)


@admin.register(CampaignFacts)
class CampaignFactsAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "until", "built_at", "claim_starts_at", "claim_ends_at")
    list_select_related = ("campaign",)
    search_fields = ("campaign__code", "campaign__name")
