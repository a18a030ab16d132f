"""The report pages' filters, shared by each page, its CSV exports and its API so a filtered
link and an API query agree: the campaigns overview's (the campaign list's status, business
line, type, trigger and search, a channel, and the period) and the customer base's (the
period and a segment)."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from campaigns import coupon_lists, selectors
from campaigns.enums import CampaignStatus
from campaigns.filters import CampaignFilterSet
from crm.core.operator_calendar import add_months, start_of_local_day
from segments.models import Segment

# The default period: the last 30 calendar days, today included.
DEFAULT_DAYS = 30
# A report's moments are RFC 3339 times in the operator's zone: before 1901 its offset has
# seconds (LMT), and a longer span says nothing a marketer compares.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2099, 12, 31)
LONGEST_PERIOD_DAYS = 3 * 366


@dataclass(frozen=True)
class Period:
    """Operator calendar days `first_day` to `last_day`, both included."""

    first_day: date
    last_day: date

    @property
    def starts_at(self) -> datetime:
        return start_of_local_day(self.first_day)

    @property
    def ends_at(self) -> datetime:
        return start_of_local_day(self.last_day + timedelta(days=1))


class PeriodForm(forms.Form):
    """The filters' form; a valid one holds the period in `period` (not in cleaned_data,
    whose every entry the filterset applies as a filter)."""

    period: Period | None = None
    # Without days, the period is the last `default_days`, today included.
    default_days = DEFAULT_DAYS

    def clean(self):
        cleaned = super().clean()
        today = timezone.localdate()
        for name in ("first_day", "last_day"):
            day = cleaned.get(name)
            if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
                self.add_error(name, f"Pick a day from {EARLIEST_DAY} to {LATEST_DAY}.")
                cleaned.pop(name, None)
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first and last and first > last:
            self.add_error("last_day", "This day is before the first day of the period.")
        elif first and last and (last - first).days >= LONGEST_PERIOD_DAYS:
            self.add_error("last_day", f"A period is at most {LONGEST_PERIOD_DAYS} days.")
        elif not self.errors:
            last = last or (first + timedelta(days=self.default_days - 1) if first else today)
            first = first or self.default_first_day(last)
            self.period = Period(first, last)
        return cleaned

    def default_first_day(self, last: date) -> date:
        """The period's first day when only its last is known."""
        return last - timedelta(days=self.default_days - 1)


def _day_filter(label: str) -> django_filters.DateFilter:
    return django_filters.DateFilter(
        method="filter_nothing",
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A calendar day in the operator's time zone, included.",
    )


class CampaignOverviewFilterSet(CampaignFilterSet):
    """Campaigns whose claim window overlaps the period (drafts only when asked for by
    status), filtered like the campaign list, and by a channel they deliver through."""

    channel = django_filters.ChoiceFilter(
        field_name="channels__code",
        choices=coupon_lists.channel_choices,
        label="Channel",
        empty_label="Any",
    )
    first_day = _day_filter("From")
    last_day = _day_filter("To")

    class Meta(CampaignFilterSet.Meta):
        form = PeriodForm

    @property
    def period(self) -> Period:
        """The period asked for (valid forms only)."""
        return self.form.period

    def filter_nothing(self, queryset: QuerySet, name: str, value) -> QuerySet:
        # The period is applied once, in filter_queryset, with its defaults.
        return queryset

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = super().filter_queryset(queryset)
        period = self.period
        queryset = queryset.filter(
            claim_starts_at__lt=period.ends_at, claim_ends_at__gt=period.starts_at
        )
        if not self.form.cleaned_data.get("status"):
            queryset = queryset.filter(~Q(status=CampaignStatus.DRAFT))
        return queryset


def overview_filterset(data) -> CampaignOverviewFilterSet:
    """The overview's filters over every campaign, always bound: an empty query asks for
    the default period."""
    return CampaignOverviewFilterSet(data, queryset=selectors.campaigns_for_list())


def _day_field(label: str) -> forms.DateField:
    return forms.DateField(
        required=False,
        label=label,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="A calendar day in the operator's time zone, included.",
    )


class CustomerBaseForm(PeriodForm):
    """The customer base's period (default the twelve months to the last day, that month
    included, which the monthly facts answer; it may not start after today: its flows run
    from the stages at its start to those at its end, or now) and, optionally, the segment
    whose members at the period's end it is limited to."""

    default_days = 365
    default_months = 12

    def default_first_day(self, last: date) -> date:
        return add_months(last, 1 - self.default_months)

    first_day = _day_field("From")
    last_day = _day_field("To")
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.order_by("name"),
        required=False,
        empty_label="All customers",
        help_text="Its members at the period's end.",
    )

    def clean_first_day(self):
        first = self.cleaned_data.get("first_day")
        if first is not None and first > timezone.localdate():
            raise forms.ValidationError("The period cannot start after today.")
        return first
