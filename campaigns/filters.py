"""Filters of the campaign and coupon template lists, shared by the pages, their CSV
exports and the API (filterset_class), so a filtered link and an API query agree."""

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from campaigns.enums import CampaignStatus, CampaignType, CostBearer, CouponKind, Trigger
from campaigns.models import Campaign, CouponTemplate


class CampaignFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Code or name"}),
        help_text="Campaign code (or its beginning) or words of its name.",
    )
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices, empty_label="Any")
    business_line = django_filters.CharFilter(
        field_name="business_line", lookup_expr="iexact", label="Business line"
    )
    campaign_type = django_filters.ChoiceFilter(
        choices=CampaignType.choices, label="Type", empty_label="Any"
    )
    trigger = django_filters.ChoiceFilter(choices=Trigger.choices, empty_label="Any")
    segment = django_filters.NumberFilter(field_name="segment_id", label="Segment id")

    class Meta:
        model = Campaign
        fields = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__istartswith=value) | Q(name__icontains=value))


class CouponTemplateFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Code or name"}),
        help_text="Template code (or its beginning) or words of its name.",
    )
    kind = django_filters.ChoiceFilter(choices=CouponKind.choices, empty_label="Any")
    cost_bearer = django_filters.ChoiceFilter(
        choices=CostBearer.choices, label="Cost borne by", empty_label="Any"
    )

    class Meta:
        model = CouponTemplate
        fields = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(code__istartswith=value) | Q(name__icontains=value))
