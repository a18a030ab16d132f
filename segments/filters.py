"""Filters of the segment list and of a segment's members, shared by pages and the API."""

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from crm.filters import CustomerFilterSet
from segments.enums import SegmentKind
from segments.models import Segment


class SegmentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="filter_search",
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or description"}),
    )
    kind = django_filters.ChoiceFilter(choices=SegmentKind.choices, empty_label="Any")

    class Meta:
        model = Segment
        fields = []

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class SegmentMemberFilterSet(CustomerFilterSet):
    """The customer filters on a segment's members (the queryset is already the members,
    so every filter only narrows it further)."""

    class Meta(CustomerFilterSet.Meta):
        pass
