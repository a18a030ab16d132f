"""Report pages: the campaigns overview, the live monitor, the customer base, and their CSV
exports, with a campaign report's (the report itself is on the campaign page)."""

from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from analytics.campaign_measures import MIN_HOLDOUT, Measures
from analytics.campaign_overview import DEFAULT_ORDERING, campaign_overview
from analytics.campaign_report import campaign_report
from analytics.charts import STAGE_LABELS
from analytics.customer_base import (
    SEGMENTS_SHOWN,
    CustomerBase,
    customer_base_for_page,
    facts_jobs,
    latest_facts_job,
    snapshot_jobs,
    snapshot_query,
)
from analytics.filters import CustomerBaseForm, overview_filterset
from analytics.live_monitor import MINUTES, live_monitor
from analytics.services.customer_base_facts import start_customer_base_facts
from analytics.services.customer_base_snapshots import start_customer_base_snapshot
from analytics.templatetags.measures import shown
from campaigns import selectors as campaign_selectors
from campaigns.models import Campaign
from crm.core.csv_export import stream_csv
from crm.core.models import Job
from crm.core.permissions import READ_ROLES, WRITE_ROLES, RoleRequiredMixin, has_role
from crm.core.sorting import sort_columns
from segments.rules import RuleError

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


def _bad_export(errors) -> HttpResponse:
    """A 400 naming each bad filter value: an export never quietly drops a filter."""
    lines = [f"{name}: {' '.join(problems)}" for name, problems in errors.items()]
    return HttpResponse(
        "Fix these filters and export again:\n" + "\n".join(lines),
        status=400,
        content_type="text/plain; charset=utf-8",
    )


def _show_period(form, period) -> None:
    """Write the period a valid form defaulted to into its date fields, so the page shows
    the days it reports on."""
    form.data = form.data.copy()
    form.data["first_day"] = period.first_day.isoformat()
    form.data["last_day"] = period.last_day.isoformat()


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
        _show_period(self.filterset.form, overview.period)
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
            return _bad_export(filterset.errors)
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


# Customer base ------------------------------------------------------------------------


@dataclass
class CustomerBaseAnswer:
    """What the customer base page shows: the base, or the form with its errors; and
    whether it was too slow to compute here, or is being computed in the background."""

    form: CustomerBaseForm
    base: CustomerBase | None = None
    timed_out: bool = False
    computing: Job | None = None


def _customer_base_or_errors(data) -> CustomerBaseAnswer:
    """The customer base the query asks for, or the form with its errors (nothing is
    computed here while a background computation of it is under way)."""
    answer = CustomerBaseAnswer(form=CustomerBaseForm(data))
    form = answer.form
    if not form.is_valid():
        return answer
    try:
        shown = customer_base_for_page(
            period=form.period, segment=form.cleaned_data.get("segment"), now=timezone.now()
        )
    except RuleError as error:
        form.add_error("segment", f"This segment's rules no longer work: {error}")
        return answer
    answer.base, answer.computing = shown.base, shown.computing
    if shown.computing is not None:
        form.add_error(None, "This customer base is being computed in the background.")
    if shown.timed_out is not None:
        form.add_error(None, shown.timed_out.detail)
        answer.timed_out = True
    return answer


class CustomerBaseView(RoleRequiredMixin, TemplateView):
    allowed_roles = READ_ROLES
    template_name = "analytics/customer_base.html"

    def get(self, request, *args, **kwargs):
        answer = _customer_base_or_errors(request.GET)
        base, form = answer.base, answer.form
        if base:
            _show_period(form, base.period)
        context = self.get_context_data(
            base=base,
            form=form,
            computing=answer.computing,
            timed_out=answer.timed_out,
            stages=STAGE_LABELS,
            segments_shown=SEGMENTS_SHOWN,
            job=latest_facts_job(),
            can_edit=has_role(request.user, WRITE_ROLES),
            **kwargs,
        )
        # Too slow to compute here, or being computed in the background: the page's answer
        # is that state and what to do, not an error of the request.
        answered = base or answer.timed_out or answer.computing
        return self.render_to_response(context, status=200 if answered else 400)


class CustomerBaseFactsView(RoleRequiredMixin, View):
    """Start building the monthly facts (one build at a time) and go back to the page with
    the filters it had: the form posts to this view with the page's query."""

    allowed_roles = WRITE_ROLES

    def post(self, request):
        job = start_customer_base_facts(actor=request.user, now=timezone.now())
        messages.success(request, f"Building the monthly facts (job {job.pk}): progress below.")
        return _back_to_customer_base(request)


class CustomerBaseSnapshotView(RoleRequiredMixin, View):
    """Start computing the customer base of the page's filters in the background (one
    computation of the same at a time) and go back to the page, which shows its progress."""

    allowed_roles = READ_ROLES

    def post(self, request):
        form = CustomerBaseForm(request.GET)
        if form.is_valid():
            job = start_customer_base_snapshot(
                actor=request.user,
                period=form.period,
                segment=form.cleaned_data.get("segment"),
                now=timezone.now(),
            )
            messages.success(request, f"Computing it in the background (job {job.pk}).")
        return _back_to_customer_base(request)


def _back_to_customer_base(request):
    """Back to the customer base page with the query its form posted with (its filters)."""
    query = request.GET.urlencode()
    return redirect(f"{reverse('customer-base')}?{query}" if query else reverse("customer-base"))


class CustomerBaseSnapshotProgressView(RoleRequiredMixin, View):
    """The progress fragment of one background computation; it polls itself until the
    computation ends."""

    allowed_roles = READ_ROLES

    def get(self, request, job_id: int):
        job = get_object_or_404(snapshot_jobs(), pk=job_id)
        # (its own query, not this request's: a failed one offers to compute it again)
        context = {"computing": job, "polled": True, "query": snapshot_query(job)}
        return render(request, "analytics/customer_base_snapshot.html", context)


class CustomerBaseFactsProgressView(RoleRequiredMixin, View):
    """The progress fragment of one facts build; it polls itself until the build ends."""

    allowed_roles = READ_ROLES

    def get(self, request, job_id: int):
        job = get_object_or_404(facts_jobs(), pk=job_id)
        return render(
            request,
            "analytics/customer_base_facts.html",
            {"job": job, "can_edit": has_role(request.user, WRITE_ROLES), "polled": True},
        )


# The customer base's tables as CSV: name -> (header, rows of a CustomerBase).
CUSTOMER_BASE_TABLES = {
    "stages": (
        ("month", "at", *STAGE_LABELS),
        lambda base: (
            [m.month.strftime("%Y-%m"), timezone.localtime(m.at).isoformat(), *m.stages.values()]
            for m in base.stages_by_month
        ),
    ),
    "flows": (
        ("from_stage", "to_stage", "customers"),
        lambda base: ([f.from_stage, f.to_stage, f.customers] for f in base.flows),
    ),
    "rfm": (
        ("recency", "frequency", "customers", "revenue"),
        lambda base: ([c.recency, c.frequency, c.customers, c.revenue] for c in base.rfm),
    ),
    "funnel": (
        ("step", "customers", "conversion"),
        lambda base: ([s.step, s.customers, s.conversion] for s in base.funnel),
    ),
    "cohorts": (
        ("cohort", "customers", "months_since", "retention", "ltv"),
        lambda base: (
            [c.month.strftime("%Y-%m"), c.customers, k, c.retention[k], c.ltv[k]]
            for c in base.cohorts
            for k in range(len(c.retention))
        ),
    ),
    "segments": (
        ("segment", "members", "ltv", "problem"),
        lambda base: ([v.segment.name, v.customers, v.ltv, v.problem] for v in base.segments),
    ),
}


class CustomerBaseExportView(RoleRequiredMixin, View):
    """One of the customer base's tables (`table`, see CUSTOMER_BASE_TABLES) as CSV, with the
    page's period and segment."""

    allowed_roles = READ_ROLES

    def get(self, request):
        table = request.GET.get("table", "")
        if table not in CUSTOMER_BASE_TABLES:
            return _bad_export({"table": [f"Pick one of {', '.join(CUSTOMER_BASE_TABLES)}."]})
        answer = _customer_base_or_errors(request.GET)
        base = answer.base
        if answer.timed_out or answer.computing:
            # Not a filter to fix: the page computes it in the background, then exports it.
            return HttpResponse(
                " ".join(answer.form.non_field_errors())
                + " Open the customer base page with these filters to compute it in the "
                "background, then export it from there.",
                status=422,
                content_type="text/plain; charset=utf-8",
            )
        if base is None:
            return _bad_export(answer.form.errors)
        header, rows = CUSTOMER_BASE_TABLES[table]
        period = f"{base.period.first_day:%Y%m%d}-{base.period.last_day:%Y%m%d}"
        return stream_csv(
            filename=f"customer-base-{table}-{period}-{_stamp()}.csv",
            header=header,
            rows=rows(base),
        )


class LiveMonitorExportView(RoleRequiredMixin, View):
    """The live monitor's running campaigns as CSV, as of now."""

    allowed_roles = READ_ROLES

    def get(self, request):
        monitor = live_monitor(now=timezone.now())
        return stream_csv(
            filename=f"live-monitor-{_stamp()}.csv",
            header=(
                "campaign",
                "status",
                "grants_this_minute",
                f"grants_last_{MINUTES}_minutes",
                "stock_left",
                "budget_left",
                "refusals_last_hour",
            ),
            rows=(
                [
                    live.campaign.code,
                    live.campaign.status,
                    live.last_minute,
                    sum(live.per_minute),
                    live.stock_left,
                    live.budget_left,
                    ";".join(f"{reason}={n}" for reason, n in live.refusals.items()),
                ]
                for live in monitor.campaigns
            ),
        )


# The campaign report's rows on the campaign page: (measure, label).
REPORT_ROWS = (
    ("delivered", "Delivered"),
    ("delivery_failed", "Delivery failed"),
    ("claimed", "Claimed"),
    ("claim_rate", "Claim rate"),
    ("redeemed", "Redeemed"),
    ("redemption_rate", "Redemption rate"),
    ("gmv", "GMV"),
    ("cost", "Discount cost"),
    ("roi", "ROI"),
    ("aov", "Average order value"),
)


class CampaignReportPanelView(RoleRequiredMixin, TemplateView):
    """The campaign page's report panel, loaded after the page (htmx): at a million grants
    the report takes seconds (bench_reports), and the page should not wait for it."""

    allowed_roles = READ_ROLES
    template_name = "analytics/campaign_report.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        campaign = Campaign.objects.filter(code=kwargs["code"]).first()
        if campaign is None:
            raise Http404("No campaign with this code.")
        report = campaign_report(campaign=campaign, as_of=timezone.now())
        columns = [("Total", report.total), *report.channels.items()]
        context.update(
            report=report,
            columns=[name for name, _ in columns],
            rows=[
                (key, label, [shown(key, getattr(measures, key)) for _, measures in columns])
                for key, label in REPORT_ROWS
            ],
            min_holdout=MIN_HOLDOUT,
        )
        return context
