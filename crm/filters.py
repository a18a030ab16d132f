"""Customer filters shared by the customer list page, its CSV export and the API.

Every filter only narrows the customer set (no join that repeats a customer), so counts,
pages and exports stay exact whichever filters are combined.
"""

from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from crm.enums import Gender, LifecycleStage, PointsReason, RfmGroup, ValueTier
from crm.models import Customer, PointsEntry

YES_NO = (("true", "Yes"), ("false", "No"))


def _start_of_day(day: date) -> datetime:
    """Midnight of `day` in the operator's time zone (SPEC §2: dates are local)."""
    return timezone.make_aware(datetime.combine(day, time.min))


class CustomerOrderingFilter(django_filters.OrderingFilter):
    """Sorts by the listed columns; customers never ordered sort last either way."""

    def get_ordering_value(self, param: str):
        descending = param.startswith("-")
        field_name = self.param_map.get(param.lstrip("-"), param.lstrip("-"))
        expression = F(field_name)
        if descending:
            return expression.desc(nulls_last=True)
        return expression.asc(nulls_last=True)

    def filter(self, qs: QuerySet, value):
        if not value:
            return qs
        ordering = [self.get_ordering_value(param) for param in value if param]
        # customer_id is unique, so pages never overlap or skip rows between requests.
        return qs.order_by(*ordering, "customer_id")


class CustomerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Id, name or contact"}),
        help_text="Customer id (or its beginning), name, full phone number or e-mail.",
    )
    city = django_filters.CharFilter(field_name="city", lookup_expr="iexact")
    region = django_filters.CharFilter(field_name="region", lookup_expr="iexact")
    gender = django_filters.ChoiceFilter(
        choices=[choice for choice in Gender.choices if choice[0]], empty_label="Any"
    )
    lifecycle_stage = django_filters.ChoiceFilter(
        choices=LifecycleStage.choices, label="Lifecycle stage", empty_label="Any"
    )
    rfm_group = django_filters.ChoiceFilter(
        choices=RfmGroup.choices, label="RFM group", empty_label="Any"
    )
    value_tier = django_filters.ChoiceFilter(
        choices=ValueTier.choices, label="Value tier", empty_label="Any"
    )
    is_member = django_filters.BooleanFilter(
        label="Member", widget=forms.Select(choices=[("", "Any"), *YES_NO])
    )
    member_tier = django_filters.CharFilter(
        field_name="member_tier", lookup_expr="iexact", label="Member tier"
    )
    tag = django_filters.CharFilter(method="filter_tag", label="Tag")
    order_count_min = django_filters.NumberFilter(
        field_name="order_count", lookup_expr="gte", label="Orders at least"
    )
    order_count_max = django_filters.NumberFilter(
        field_name="order_count", lookup_expr="lte", label="Orders at most"
    )
    total_spent_min = django_filters.NumberFilter(
        field_name="total_spent", lookup_expr="gte", label="Spent at least"
    )
    total_spent_max = django_filters.NumberFilter(
        field_name="total_spent", lookup_expr="lte", label="Spent at most"
    )
    last_order_from = django_filters.DateFilter(
        method="filter_last_order_from",
        label="Last order from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    last_order_to = django_filters.DateFilter(
        method="filter_last_order_to",
        label="Last order to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    ordering = CustomerOrderingFilter(
        fields=(
            ("customer_id", "customer_id"),
            ("name", "name"),
            ("city", "city"),
            ("order_count", "order_count"),
            ("total_spent", "total_spent"),
            ("last_order_at", "last_order_at"),
            ("registered_at", "registered_at"),
        ),
        label="Sort by",
    )

    class Meta:
        model = Customer
        fields = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Phone and e-mail match only in full: a partial match would let a viewer without
        # the PII permission recover a masked number digit by digit.
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(customer_id__startswith=value)
            | Q(name__icontains=value)
            | Q(phone=value)
            | Q(email__iexact=value)
        )

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # A semi-join, not a join on tags: a customer appears once however it is tagged.
        tagged = Customer.tags.through.objects.filter(
            customer_id=OuterRef("pk"), tag__name=value.strip()
        )
        return queryset.filter(Exists(tagged))

    def filter_last_order_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(last_order_at__gte=_start_of_day(value))

    def filter_last_order_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        # Inclusive calendar date: everything before the next local midnight.
        if value == date.max:  # the day after does not exist: every order is before it
            return queryset.filter(last_order_at__isnull=False)
        return queryset.filter(last_order_at__lt=_start_of_day(value + timedelta(days=1)))


class PointsEntryFilterSet(django_filters.FilterSet):
    """A customer's points ledger (GET /api/v1/customers/{customer_id}/points/) by reason."""

    reason = django_filters.ChoiceFilter(choices=PointsReason.choices)

    class Meta:
        model = PointsEntry
        fields = []
