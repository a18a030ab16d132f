"""Marketer pages of the customer data: home dashboard, customer list and export, 360 page.

Marketers and analysts may open them (SPEC §7); phone and e-mail are masked for viewers
without the PII permission (SPEC §9) by the selectors, in SQL.
"""

from collections.abc import Iterator

from django.http import Http404
from django.shortcuts import redirect
from django.utils import timezone
from django.views import View
from django.views.generic import ListView, TemplateView

from crm import selectors
from crm.core.csv_export import stream_csv
from crm.core.permissions import RoleRequiredMixin, can_see_pii
from crm.core.sorting import sort_columns
from crm.filters import CustomerFilterSet
from crm.models import Customer

# Column headers a marketer can sort by: (ordering key, label, first click descending?).
SORTABLE_COLUMNS = (
    ("customer_id", "Customer", False),
    ("name", "Name", False),
    ("city", "City", False),
    ("order_count", "Orders", True),
    ("total_spent", "Spent", True),
    ("last_order_at", "Last order", True),
)

EXPORT_HEADER = (
    "customer_id",
    "name",
    "phone",
    "email",
    "gender",
    "city",
    "region",
    "is_member",
    "member_tier",
    "tags",
    "registered_at",
    "order_count",
    "total_spent",
    "avg_order_value",
    "first_order_at",
    "last_order_at",
    "value_tier",
    "lifecycle_stage",
    "rfm_group",
)

# Rows read from the database per round trip while streaming an export (with one tag
# prefetch per chunk); memory stays flat whatever the size of the export.
EXPORT_CHUNK_SIZE = 2000


class HomeView(RoleRequiredMixin, TemplateView):
    template_name = "crm/home.html"

    def handle_no_permission(self):
        # Support staff land here after logging in; their place is the admin (SPEC §7).
        if self.request.user.is_authenticated and self.request.user.is_staff:
            return redirect("admin:index")
        return super().handle_no_permission()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        as_of = timezone.now()
        board = selectors.dashboard(as_of=as_of)
        context["as_of"] = as_of
        context["counts"] = board.counts
        context["previous"] = board.previous
        context["stages"] = board.stages
        context["recent_jobs"] = board.recent_jobs
        return context


def _customer_filterset(request) -> CustomerFilterSet:
    return CustomerFilterSet(
        request.GET or None,
        queryset=selectors.customers_for_list(show_pii=can_see_pii(request.user)),
    )


class CustomerListView(RoleRequiredMixin, ListView):
    template_name = "crm/customer_list.html"
    context_object_name = "customers"
    paginate_by = 50

    def get_queryset(self):
        self.filterset = _customer_filterset(self.request)
        return self.filterset.qs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filterset"] = self.filterset
        context["filters_active"] = any(
            value
            for name, value in self.request.GET.items()
            if name not in ("page", "ordering") and value.strip()
        )
        context["sort"] = self._sort_columns()
        context["page_range"] = context["paginator"].get_elided_page_range(
            context["page_obj"].number, on_each_side=2, on_ends=1
        )
        return context

    def _sort_columns(self) -> dict[str, dict]:
        # Without a choice the list is in customer id order (the selector's default).
        return sort_columns(self.request.GET.get("ordering") or "customer_id", SORTABLE_COLUMNS)


def _export_line(customer: Customer) -> list:
    return [
        customer.customer_id,
        customer.name,
        customer.phone_shown,
        customer.email_shown,
        customer.gender,
        customer.city,
        customer.region,
        "yes" if customer.is_member else "no",
        customer.member_tier,
        ";".join(tag.name for tag in customer.tags.all()),
        _local_iso(customer.registered_at),
        customer.order_count,
        customer.total_spent,
        customer.avg_order_value,
        _local_iso(customer.first_order_at),
        _local_iso(customer.last_order_at),
        customer.value_tier,
        customer.lifecycle_stage,
        customer.rfm_group,
    ]


def _local_iso(moment) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


class CustomerExportView(RoleRequiredMixin, View):
    """The filtered customer list as a streamed CSV (same filters as the list page)."""

    def get(self, request):
        queryset = _customer_filterset(request).qs
        lines: Iterator[list] = (
            _export_line(customer) for customer in queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE)
        )
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return stream_csv(filename=f"customers-{stamp}.csv", header=EXPORT_HEADER, rows=lines)


class CustomerDetailView(RoleRequiredMixin, TemplateView):
    """Customer 360: profile, labels, metrics, stage history, latest orders and events; the
    coupons section is campaigns' (its `customer_coupons` tag), as crm never imports it."""

    template_name = "crm/customer_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        # No customer id holds a NUL, and PostgreSQL text cannot even be compared with one.
        if "\x00" in kwargs["customer_id"]:
            raise Http404("No customer with this id.")
        try:
            customer = selectors.customer_profile(
                customer_id=kwargs["customer_id"], show_pii=can_see_pii(self.request.user)
            )
        except Customer.DoesNotExist:
            raise Http404("No customer with this id.") from None
        context["customer"] = customer
        context["show_pii"] = can_see_pii(self.request.user)
        context["consents"] = sorted(customer.consent.items())
        context["attributes"] = sorted(customer.attributes.items())
        return context
