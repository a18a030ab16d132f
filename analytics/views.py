"""Report pages: the campaigns overview and its CSV exports, and a campaign report's CSV
exports (the report itself is on the campaign page)."""

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from analytics.campaign_measures import Measures
from analytics.campaign_overview import DEFAULT_ORDERING, campaign_overview
from analytics.campaign_report import campaign_report
from analytics.filters import overview_filterset
from analytics.live_monitor import MINUTES, live_monitor
from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign
from crm.core.csv_export import stream_csv
from crm.core.permissions import READ_ROLES, RoleRequiredMixin
from crm.core.sorting import sort_columns

# The issue asks for at least every 5 s.
LIVE_REFRESH_SECONDS = 5

# SPEC §5's measure names, the exports' columns (the interval in two).
MEASURE_COLUMNS = (
    "audience",
    "holdout",
    "delivered",
    "delivery_failed",
    "claimed",
    "claim_rate",
    "redeemed",
    "redemption_rate",
    "gmv",
    "cost",
    "roi",
    "aov",
    "incremental_gmv",
    "lift",
    "lift_ci_low",
    "lift_ci_high",
)

OVERVIEW_EXPORT_HEAD = ("campaign", "name", "status", "business_line", "campaign_type", "as_of")

# The overview's sortable columns: (ordering key, label, first click descending?).
OVERVIEW_COLUMNS = (
    ("name", "Campaign", False),
    ("status", "Status", False),
    ("claim_starts_at", "Claims open", True),
    ("audience", "Audience", True),
    ("claimed", "Claimed", True),
    ("claim_rate", "Claim rate", True),
    ("redeemed", "Redeemed", True),
    ("redemption_rate", "Redemption rate", True),
    ("gmv", "GMV", True),
    ("cost", "Cost", True),
    ("roi", "ROI", True),
    ("aov", "AOV", True),
    ("incremental_gmv", "Incremental GMV", True),
    ("lift", "Lift", True),
)


def measure_cells(measures: Measures) -> list:
    """A row's measures in MEASURE_COLUMNS order (rates unrounded, money as decimals)."""
    low, high = measures.lift_ci or (None, None)
    return [getattr(measures, name) for name in MEASURE_COLUMNS[:-2]] + [low, high]


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


class CampaignOverviewView(RoleRequiredMixin, TemplateView):
    allowed_roles = READ_ROLES
    template_name = "analytics/campaign_overview.html"
    paginate_by = 50

    def get(self, request, *args, **kwargs):
        self.filterset = overview_filterset(request.GET)
        context = self.get_context_data(**kwargs)
        # Bad filters: the page names them, with a 400 as the API's.
        return self.render_to_response(context, status=200 if "overview" in context else 400)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filterset"] = self.filterset
        context["business_lines"] = campaign_selectors.business_lines()
        if not self.filterset.is_valid():
            return context
        ordering = self.request.GET.get("ordering") or DEFAULT_ORDERING
        overview = campaign_overview(
            campaigns=self.filterset.qs,
            period=self.filterset.period,
            now=timezone.now(),
            ordering=ordering,
        )
        page = Paginator(overview.rows, self.paginate_by).get_page(self.request.GET.get("page"))
        context.update(
            overview=overview,
            page_obj=page,
            paginator=page.paginator,
            page_range=page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
            sort=sort_columns(ordering, OVERVIEW_COLUMNS),
            best_channel=max(
                (item for item in overview.channels.items() if item[1].roi is not None),
                key=lambda item: item[1].roi,
                default=None,
            ),
        )
        return context


class CampaignOverviewExportView(RoleRequiredMixin, View):
    """The overview's campaigns (table=campaigns, the default) or its per-channel roll-up
    (table=channels) as CSV, with the page's filters and order."""

    allowed_roles = READ_ROLES

    def get(self, request):
        filterset = overview_filterset(request.GET)
        if not filterset.is_valid():
            lines = [f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()]
            return HttpResponse(
                "Fix these filters and export again:\n" + "\n".join(lines),
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        overview = campaign_overview(
            campaigns=filterset.qs,
            period=filterset.period,
            now=timezone.now(),
            ordering=request.GET.get("ordering", ""),
        )
        period = f"{overview.period.first_day:%Y%m%d}-{overview.period.last_day:%Y%m%d}"
        if request.GET.get("table") == "channels":
            return stream_csv(
                filename=f"channels-{period}-{_stamp()}.csv",
                header=("channel", *MEASURE_COLUMNS),
                rows=(
                    [code, *measure_cells(measures)] for code, measures in overview.channels.items()
                ),
            )
        return stream_csv(
            filename=f"campaigns-overview-{period}-{_stamp()}.csv",
            header=(
                "campaign",
                "name",
                "status",
                "business_line",
                "campaign_type",
                "as_of",
                *MEASURE_COLUMNS,
            ),
            rows=(
                [
                    row.campaign.code,
                    row.campaign.name,
                    row.campaign.status,
                    row.campaign.business_line,
                    row.campaign.campaign_type,
                    timezone.localtime(overview.as_of).isoformat(),
                    *measure_cells(row.measures),
                ]
                for row in overview.rows
            ),
        )


class CampaignReportExportView(RoleRequiredMixin, View):
    """A campaign's report as of now as CSV: its measures in total and per channel
    (table=measures, the default) or its daily series (table=series)."""

    allowed_roles = READ_ROLES

    def get(self, request, code: str):
        campaign = Campaign.objects.filter(code=code).first()
        if campaign is None:
            raise Http404("No campaign with this code.")
        report = campaign_report(campaign=campaign, as_of=timezone.now())
        if request.GET.get("table") == "series":
            return stream_csv(
                filename=f"{campaign.code}-daily-{_stamp()}.csv",
                header=("date", "claimed", "redeemed"),
                rows=([day.date.isoformat(), day.claimed, day.redeemed] for day in report.series),
            )
        rows = [["total", *measure_cells(report.total)]]
        rows += [[code, *measure_cells(measures)] for code, measures in report.channels.items()]
        return stream_csv(
            filename=f"{campaign.code}-report-{_stamp()}.csv",
            header=("channel", *MEASURE_COLUMNS),
            rows=rows,
        )


class LiveMonitorView(RoleRequiredMixin, TemplateView):
    """Running campaigns, refreshed in the page every LIVE_REFRESH_SECONDS (htmx polls the
    panel: /reports/live/?panel=1)."""

    allowed_roles = READ_ROLES

    def get_template_names(self):
        if self.request.GET.get("panel"):
            return ["analytics/live_monitor_panel.html"]
        return ["analytics/live_monitor.html"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["monitor"] = live_monitor(now=timezone.now())
        context["minutes"] = MINUTES
        context["refresh_seconds"] = LIVE_REFRESH_SECONDS
        return context
