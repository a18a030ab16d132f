"""Read-only admin of the customer base's monthly facts and background computations: which
build or computation the page reads, as of when, and its job; they are written by their
task only."""

from django.contrib import admin

from analytics.models import CustomerBaseFacts, CustomerBaseSnapshot
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
