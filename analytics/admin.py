"""Read-only admin of the customer base's monthly facts: which build the page reads, as of
when, and its job; facts are written by their build only."""

from django.contrib import admin

from analytics.models import CustomerBaseFacts
from crm.core.admin import ReadOnlyAdmin


@admin.register(CustomerBaseFacts)
class CustomerBaseFactsAdmin(ReadOnlyAdmin):
    list_display = ("pk", "as_of", "first_month", "customers", "built_at", "job")
    list_select_related = ("job",)
