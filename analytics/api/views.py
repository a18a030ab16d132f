"""Reports API: a campaign's report (SPEC §5, GET /api/v1/campaigns/{code}/report/?as_of=)
and the campaigns overview (GET /api/v1/reports/campaigns/)."""

from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import (
    CampaignOverviewSerializer,
    CampaignReportSerializer,
    CustomerBaseSerializer,
    CustomerBaseSnapshotRequestSerializer,
    CustomerBaseSnapshotSerializer,
    LiveMonitorSerializer,
    ReportQuerySerializer,
)
from analytics.campaign_overview import DEFAULT_ORDERING, ORDERINGS, campaign_overview
from analytics.campaign_report import campaign_report
from analytics.customer_base import customer_base, snapshots
from analytics.filters import CampaignOverviewFilterSet, CustomerBaseForm, overview_filterset
from analytics.live_monitor import live_monitor
from analytics.services.customer_base_snapshots import start_customer_base_snapshot
from campaigns.models import Campaign
from crm.core.api import REPLICA_CONFLICT_RESPONSE, RefusalSerializer
from crm.core.permissions import READ_ROLES, HasRole
from segments.rules import RuleError


class CampaignReportView(APIView):
    permission_classes = [HasRole]
    allowed_roles = READ_ROLES

    @extend_schema(
        operation_id="read_campaign_report",
        summary="A campaign's report, per channel and in total",
        description="The measures as of `as_of` (default now): audience and holdout, "
        "delivery, claims, redemptions, GMV, discount cost, ROI, AOV, and lift against the "
        "holdout with Welch's 95% interval (null with fewer than 30 holdout customers); a "
        "daily series in the operator's calendar days; stock and budget burn.",
        parameters=[
            OpenApiParameter("code", str, OpenApiParameter.PATH, description="Campaign code."),
            OpenApiParameter("as_of", str, description="ISO 8601 moment (default: now)."),
        ],
        responses={
            200: CampaignReportSerializer,
            400: OpenApiResponse(description="`as_of` is not a date and time."),
            403: OpenApiResponse(description="Only marketers and analysts read reports."),
            503: REPLICA_CONFLICT_RESPONSE,
            404: OpenApiResponse(description="No campaign with this code."),
        },
    )
    def get(self, request, code: str):
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if "\x00" in code:
            raise NotFound("No campaign with this code.")
        campaign = Campaign.objects.filter(code=code).first()
        if campaign is None:
            raise NotFound("No campaign with this code.")
        report = campaign_report(
            campaign=campaign, as_of=query.validated_data.get("as_of") or timezone.now()
        )
        return Response(CampaignReportSerializer(report).data)


class CampaignOverviewView(GenericAPIView):
    permission_classes = [HasRole]
    allowed_roles = READ_ROLES
    # For the schema's parameters (filters=True); get() binds the filterset itself, always
    # (an empty query is the default period, not "no filter").
    queryset = Campaign.objects.none()
    filter_backends = [DjangoFilterBackend]
    filterset_class = CampaignOverviewFilterSet

    @extend_schema(
        operation_id="read_campaigns_overview",
        summary="Campaigns side by side for a period, and per channel across them",
        description="The campaigns whose claim window overlaps the period (operator calendar "
        "days `first_day` to `last_day`, default the last 30 days; drafts only when `status` "
        "asks for them), each with its report's measures as of the period's end or now, "
        "whichever is earlier; the same measures per channel across them (`roi`: GMV per "
        "unit of discount cost) and over all.",
        parameters=[
            OpenApiParameter(
                "ordering",
                str,
                enum=[*ORDERINGS, *(f"-{name}" for name in ORDERINGS)],
                description="Sort campaigns by this (`-` descending; default "
                f"`{DEFAULT_ORDERING}`).",
            )
        ],
        filters=True,
        responses={
            200: CampaignOverviewSerializer,
            400: OpenApiResponse(description="A filter value is not valid (named)."),
            403: OpenApiResponse(description="Only marketers and analysts read reports."),
            503: REPLICA_CONFLICT_RESPONSE,
        },
    )
    def get(self, request):
        filterset = overview_filterset(request.query_params)
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        overview = campaign_overview(
            campaigns=filterset.qs,
            period=filterset.period,
            now=timezone.now(),
            ordering=request.query_params.get("ordering", ""),
        )
        return Response(CampaignOverviewSerializer(overview).data)


class LiveMonitorView(APIView):
    permission_classes = [HasRole]
    allowed_roles = READ_ROLES

    @extend_schema(
        operation_id="read_live_monitor",
        summary="Running campaigns now",
        description="Each running campaign (or one whose push is not over): grants per "
        "minute over the last 30 minutes, stock and budget left, claims refused in the last "
        "hour by reason; and the pushes in progress.",
        responses={
            200: LiveMonitorSerializer,
            403: OpenApiResponse(description="Only marketers and analysts read reports."),
            503: REPLICA_CONFLICT_RESPONSE,
        },
    )
    def get(self, request):
        return Response(LiveMonitorSerializer(live_monitor(now=timezone.now())).data)


class CustomerBaseView(APIView):
    permission_classes = [HasRole]
    allowed_roles = READ_ROLES

    @extend_schema(
        operation_id="read_customer_base",
        summary="The customer base over a period",
        description="For the operator's calendar days `first_day` to `last_day` (default the "
        "twelve months to today, this one included), optionally within a segment's members at "
        "the period's end: lifecycle stages at each month's end and the flows between the "
        "stages at the period's ends, the RFM grid with revenue, the AIPL funnel, monthly "
        "cohort retention and lifetime value, and LTV by saved segment. Whole months of all "
        "customers are read from the monthly facts (`facts_as_of`); anything else is computed "
        "from the orders within REPORT_TIME_LIMIT_SECONDS (422 `statement_timeout` past it).",
        parameters=[
            OpenApiParameter("first_day", OpenApiTypes.DATE),
            OpenApiParameter("last_day", OpenApiTypes.DATE),
            OpenApiParameter("segment", int, description="A saved segment's id."),
        ],
        responses={
            200: CustomerBaseSerializer,
            400: OpenApiResponse(description="A filter value is not valid (named)."),
            403: OpenApiResponse(description="Only marketers and analysts read reports."),
            422: OpenApiResponse(
                response=RefusalSerializer,
                description="Computed from the orders, it took longer than the time limit "
                "and was stopped (reason `statement_timeout`): POST the same filters to "
                "/api/v1/reports/customers/snapshots/ to compute it in the background.",
            ),
            503: REPLICA_CONFLICT_RESPONSE,
        },
    )
    def get(self, request):
        form = CustomerBaseForm(request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        try:
            base = customer_base(
                period=form.period, now=timezone.now(), segment=form.cleaned_data.get("segment")
            )
        except RuleError as error:
            problem = f"This segment's rules no longer work: {error}"
            raise ValidationError({"segment": [problem]}) from error
        return Response(CustomerBaseSerializer(base).data)


class CustomerBaseSnapshotsView(APIView):
    permission_classes = [HasRole]
    allowed_roles = READ_ROLES

    @extend_schema(
        operation_id="compute_customer_base_in_background",
        summary="Compute a customer base in the background",
        description="For a period and segment too slow to compute on a request (422 "
        "`statement_timeout` from /api/v1/reports/customers/): a Celery task computes it "
        "without the time limit. Answers 202 with its job; GET "
        "/api/v1/reports/customers/snapshots/{job}/ for its progress. Once it succeeded, "
        "/api/v1/reports/customers/ with the same filters answers from it for a day "
        "(`computed_in_background`). One computation of the same filters runs at a time: "
        "asking again returns it.",
        request=CustomerBaseSnapshotRequestSerializer,
        responses={
            202: CustomerBaseSnapshotSerializer,
            400: OpenApiResponse(description="A filter value is not valid (named)."),
            403: OpenApiResponse(description="Only marketers and analysts read reports."),
        },
    )
    def post(self, request):
        # The body's types first (JSON may hold anything), then the page's own rules.
        body = CustomerBaseSnapshotRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        form = CustomerBaseForm({name: str(value) for name, value in body.validated_data.items()})
        if not form.is_valid():
            raise ValidationError(form.errors)
        job = start_customer_base_snapshot(
            actor=request.user,
            period=form.period,
            segment=form.cleaned_data.get("segment"),
            now=timezone.now(),
        )
        return Response(CustomerBaseSnapshotSerializer(job.customerbasesnapshot).data, status=202)


class CustomerBaseSnapshotView(APIView):
    permission_classes = [HasRole]
    allowed_roles = READ_ROLES

    @extend_schema(
        operation_id="read_customer_base_computation",
        summary="A customer base computed in the background, as its job goes",
        responses={
            200: CustomerBaseSnapshotSerializer,
            403: OpenApiResponse(description="Only marketers and analysts read reports."),
            404: OpenApiResponse(description="No background computation with this job."),
        },
    )
    def get(self, request, job_id: int):
        snapshot = snapshots().filter(job_id=job_id).first()
        if snapshot is None:
            raise NotFound("No background computation with this job.")
        return Response(CustomerBaseSnapshotSerializer(snapshot).data)
