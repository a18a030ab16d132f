"""Reports API (SPEC §5): GET /api/v1/campaigns/{code}/report/?as_of=."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import CampaignReportSerializer, ReportQuerySerializer
from analytics.campaign_report import campaign_report
from campaigns.models import Campaign
from crm.core.permissions import READ_ROLES, HasRole


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
