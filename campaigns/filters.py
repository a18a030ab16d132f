"""Filters of the campaign, coupon template, coupon and redemption lists, shared by the
pages, their CSV exports and the API (filterset_class), so a filtered link and an API query
agree."""

from datetime import date, timedelta

import django_filters
from django import forms
from django.db.models import Q, QuerySet

from campaigns import coupon_lists
from campaigns.enums import (
    CampaignStatus,
    CampaignType,
    CostBearer,
    CouponKind,
    CouponStatus,
    MessageStatus,
    Trigger,
)
from campaigns.models import Campaign, Coupon, CouponTemplate, Message, Redemption
from crm.core.operator_calendar import start_of_local_day


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


# Coupons and redemptions --------------------------------------------------------------


def _filter_local_days(
    queryset: QuerySet, field: str, *, first: date | None = None, last: date | None = None
) -> QuerySet:
    """Rows whose `field` falls on the calendar days `first` to `last`, both included."""
    if first is not None:
        queryset = queryset.filter(**{f"{field}__gte": start_of_local_day(first)})
    # The last date a form accepts (9999-12-31) has no next day: no upper bound then.
    if last is not None and last < date.max:
        queryset = queryset.filter(**{f"{field}__lt": start_of_local_day(last + timedelta(days=1))})
    return queryset


class DayRangeForm(forms.Form):
    """A filter form with a `<name>_from` / `<name>_to` pair of dates: the first may not
    come after the last (such a filter would quietly list nothing)."""

    day_ranges: tuple[str, ...] = ()

    def clean(self):
        cleaned = super().clean()
        for name in self.day_ranges:
            first, last = cleaned.get(f"{name}_from"), cleaned.get(f"{name}_to")
            if first and last and first > last:
                self.add_error(f"{name}_to", "This date is before the date it runs from.")
        return cleaned


class IssuedDayRangeForm(DayRangeForm):
    day_ranges = ("issued",)


class RedeemedDayRangeForm(DayRangeForm):
    day_ranges = ("redeemed",)


def _date_filter(label: str, method: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        method=method,
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A calendar day in the operator's time zone, included.",
    )


class CouponFilterSet(django_filters.FilterSet):
    """Issued coupons by campaign, channel (of the grant), status, day issued and owner.

    Campaign and channel are picked from the ones that exist, so an unknown code is a form
    error, as is a malformed date or a NUL character; none reaches the database."""

    campaign = django_filters.ChoiceFilter(
        field_name="campaign__code",
        choices=coupon_lists.campaign_choices,
        label="Campaign",
        empty_label="Any",
    )
    channel = django_filters.ChoiceFilter(
        field_name="grant__channel__code",
        choices=coupon_lists.channel_choices,
        label="Channel",
        empty_label="Any",
    )
    status = django_filters.ChoiceFilter(
        choices=CouponStatus.choices, label="Status", empty_label="Any"
    )
    issued_from = _date_filter("Issued from", "filter_issued_from")
    issued_to = _date_filter("Issued to", "filter_issued_to")
    customer = django_filters.CharFilter(
        field_name="customer__customer_id", label="Customer id", help_text="The exact id."
    )

    class Meta:
        model = Coupon
        fields = []
        form = IssuedDayRangeForm

    def filter_issued_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return _filter_local_days(queryset, "issued_at", first=value)

    def filter_issued_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return _filter_local_days(queryset, "issued_at", last=value)


class RedemptionFilterSet(django_filters.FilterSet):
    """Redemptions by campaign, channel (of the coupon's grant), live or reversed, day
    redeemed and customer; bad values are form errors, as in CouponFilterSet."""

    LIVE = "live"
    REVERSED = "reversed"

    campaign = django_filters.ChoiceFilter(
        field_name="coupon__campaign__code",
        choices=coupon_lists.campaign_choices,
        label="Campaign",
        empty_label="Any",
    )
    channel = django_filters.ChoiceFilter(
        field_name="coupon__grant__channel__code",
        choices=coupon_lists.channel_choices,
        label="Channel",
        empty_label="Any",
    )
    status = django_filters.ChoiceFilter(
        method="filter_status",
        choices=[(LIVE, "Live"), (REVERSED, "Reversed (order refunded)")],
        label="Status",
        empty_label="Any",
    )
    redeemed_from = _date_filter("Redeemed from", "filter_redeemed_from")
    redeemed_to = _date_filter("Redeemed to", "filter_redeemed_to")
    customer = django_filters.CharFilter(
        field_name="customer__customer_id", label="Customer id", help_text="The exact id."
    )

    class Meta:
        model = Redemption
        fields = []
        form = RedeemedDayRangeForm

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(reversed_at__isnull=value == self.LIVE)

    def filter_redeemed_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return _filter_local_days(queryset, "redeemed_at", first=value)

    def filter_redeemed_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return _filter_local_days(queryset, "redeemed_at", last=value)


class CustomerCouponFilterSet(django_filters.FilterSet):
    """One customer's coupons (GET /api/v1/customers/{customer_id}/coupons/) by status and
    campaign code. An unknown code lists nothing (an API caller names a campaign, it does
    not pick one); a NUL character is a 400, as CharField refuses it."""

    status = django_filters.ChoiceFilter(choices=CouponStatus.choices)
    campaign = django_filters.CharFilter(
        field_name="campaign__code", help_text="The campaign's code (exact)."
    )

    class Meta:
        model = Coupon
        fields = []


class CustomerMessageFilterSet(django_filters.FilterSet):
    """One customer's messages (GET /api/v1/customers/{customer_id}/messages/) by status,
    channel code and campaign code."""

    status = django_filters.ChoiceFilter(choices=MessageStatus.choices)
    channel = django_filters.CharFilter(
        field_name="channel__code", help_text="The channel's code (exact)."
    )
    campaign = django_filters.CharFilter(
        field_name="campaign__code", help_text="The campaign's code (exact)."
    )

    class Meta:
        model = Message
        fields = []
