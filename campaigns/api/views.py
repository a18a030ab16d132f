"""Campaigns API (SPEC §5): claim and redeem for integrations; templates and campaigns CRUD
with their status actions for marketers (analysts read).

Every view parses input, calls one service or selector and renders; refusals are domain
exceptions mapped to 409 (crm.core.api), with `reasons` added for campaign actions.
"""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import selectors
from campaigns.api.serializers import (
    CampaignActionRefusalSerializer,
    CampaignInputSerializer,
    CampaignSerializer,
    ClaimInputSerializer,
    ClaimRefusalSerializer,
    ClaimSerializer,
    CouponTemplateInputSerializer,
    CouponTemplateSavedSerializer,
    CouponTemplateSerializer,
    CustomerCouponSerializer,
    CustomerMessageSerializer,
    DeliveryRunSerializer,
    RedemptionInputSerializer,
    RedemptionRefusalSerializer,
    RedemptionSerializer,
)
from campaigns.exceptions import UnknownClaimTargetError
from campaigns.filters import (
    CampaignFilterSet,
    CouponTemplateFilterSet,
    CustomerCouponFilterSet,
    CustomerMessageFilterSet,
)
from campaigns.models import Campaign, Coupon, DeliveryRun, Message
from campaigns.services import campaign_setup, coupon_templates, lifecycle
from campaigns.services.partner_codes import claim_with_partner_codes
from campaigns.services.redemptions import OrderLine, redeem_coupon
from crm.api.views import CUSTOMER_ID_PARAMETER, CUSTOMER_NOT_FOUND, NO_CUSTOMER
from crm.core.permissions import (
    CUSTOMER_READ_ROLES,
    INTEGRATION,
    MARKETER,
    READ_ROLES,
    WRITE_ROLES,
    HasRole,
)
from crm.models import Customer

# The shop's front ends claim and redeem with an integration token; marketers may test.
CLAIM_ROLES = frozenset({INTEGRATION, MARKETER})

_BAD_INPUT = OpenApiResponse(
    description="A field is missing or invalid, or a code names nothing (the body names the "
    'field: {"campaign": ["No campaign with code spring-9."]}).'
)
_FORBIDDEN = OpenApiResponse(description="The user's role may not do this.")

# Examples -------------------------------------------------------------------------------

_COUPON_EXAMPLE = {
    "code": "K7QX2M9PHT4A",
    "template": "ten-off-fifty",
    "kind": "cash",
    "face_value": "10.00",
    "max_discount": None,
    "threshold": "50.00",
    "valid_from": "2026-06-30T20:00:00+08:00",
    "valid_until": "2026-07-07T20:00:00+08:00",
    "status": "unused",
}
_CLAIM_EXAMPLE = {
    **{key: _COUPON_EXAMPLE[key] for key in ("code", "kind", "face_value", "threshold")},
    "valid_from": _COUPON_EXAMPLE["valid_from"],
    "valid_until": _COUPON_EXAMPLE["valid_until"],
    "campaign": "summer-snacks",
    "customer": "C000123",
    "channel": "app_push",
    "trigger": "login",
    "granted_at": "2026-06-30T20:00:00+08:00",
    "coupons": [_COUPON_EXAMPLE],
}
_CLAIM_EXAMPLES = [
    OpenApiExample(
        "claim",
        request_only=True,
        value={
            "campaign": "summer-snacks",
            "customer": "C000123",
            "channel": "app_push",
            "trigger": "login",
            "idempotency_key": "login-C000123-2026-06-30",
        },
    ),
    OpenApiExample("granted", response_only=True, status_codes=["201"], value=_CLAIM_EXAMPLE),
    OpenApiExample(
        "the same idempotency key again",
        response_only=True,
        status_codes=["200"],
        value=_CLAIM_EXAMPLE,
    ),
    OpenApiExample(
        "refused: outside the claim window",
        response_only=True,
        status_codes=["409"],
        # Moments in the operator's time zone, as the pages show them.
        value={
            "reason": "outside_window",
            "detail": "claims are open from 2026-07-01 00:00 (Asia/Shanghai) until "
            "2026-07-08 00:00 (Asia/Shanghai)",
        },
    ),
    OpenApiExample(
        "refused: channel not in campaign",
        response_only=True,
        status_codes=["409"],
        value={
            "reason": "channel_not_in_campaign",
            "detail": "channel sms is not one of the campaign's channels app_push",
        },
    ),
    OpenApiExample(
        "refused: trigger not in campaign",
        response_only=True,
        status_codes=["409"],
        value={
            "reason": "trigger_not_in_campaign",
            "detail": "trigger order_paid is not the campaign's trigger login",
        },
    ),
    OpenApiExample(
        "refused: daily limit",
        response_only=True,
        status_codes=["409"],
        value={"reason": "daily_limit", "detail": "1 of 1 grants today already"},
    ),
    OpenApiExample(
        "refused: key used for another claim",
        response_only=True,
        status_codes=["409"],
        value={
            "reason": "idempotency_key_reused",
            "detail": "idempotency_key 'login-C000123-2026-06-30' was used for another claim "
            "(different customer, channel or trigger)",
        },
    ),
]
_REDEMPTION_EXAMPLE = {
    "code": "K7QX2M9PHT4A",
    "customer": "C000123",
    "order_id": "O1001",
    "amount": "88.00",
    "discount": "10.00",
    "store": "SH-01",
    "city": "Shanghai",
}
_REDEMPTION_EXAMPLES = [
    OpenApiExample(
        "redemption",
        request_only=True,
        value={
            "code": "K7QX2M9PHT4A",
            "customer": "C000123",
            "order_id": "O1001",
            "amount": "88.00",
            "items": [{"sku": "NUT-01", "category": "nuts", "quantity": 2, "unit_price": "44.00"}],
            "store": "SH-01",
            "city": "Shanghai",
        },
    ),
    OpenApiExample("redeemed", response_only=True, status_codes=["201"], value=_REDEMPTION_EXAMPLE),
    OpenApiExample(
        "the same code and order again",
        response_only=True,
        status_codes=["200"],
        value=_REDEMPTION_EXAMPLE,
    ),
    OpenApiExample(
        "refused: threshold",
        response_only=True,
        status_codes=["409"],
        value={
            "reason": "threshold_not_met",
            "detail": "eligible amount 30.00 is below the threshold 50.00",
        },
    ),
]
_LAUNCH_REFUSED_EXAMPLE = OpenApiExample(
    "launch refused",
    response_only=True,
    status_codes=["409"],
    value={
        "reason": "launch_refused",
        "detail": "choose at least one channel; the budget 5.00 is below the cost of one "
        "grant (10.00)",
        "reasons": [
            "choose at least one channel",
            "the budget 5.00 is below the cost of one grant (10.00)",
        ],
    },
)
_START_REFUSED_EXAMPLE = OpenApiExample(
    "start refused",
    response_only=True,
    status_codes=["409"],
    value={
        "reason": "start_refused",
        "detail": "one policy per audience: campaign spring-snacks of business line 'snacks' "
        "already targets this segment from 2026-03-01 08:00 to 2026-03-08 08:00",
        "reasons": [
            "one policy per audience: campaign spring-snacks of business line 'snacks' "
            "already targets this segment from 2026-03-01 08:00 to 2026-03-08 08:00"
        ],
    },
)
_INVALID_STATUS_EXAMPLE = OpenApiExample(
    "not possible from this status",
    response_only=True,
    status_codes=["409"],
    value={
        "reason": "invalid_status",
        "detail": "cannot pause a draft campaign (only from running)",
        "reasons": ["cannot pause a draft campaign (only from running)"],
    },
)


# Claim and redeem -----------------------------------------------------------------------


# The claim's serializers are built once per process and only read afterwards (validation
# and representation keep no state on the instance): building them per request, which
# deep-copies every declared field, cost 1.3 ms of the 5.2 ms of CPU a claim took
# (measured with 300 claims through the test client on the 1M-customer bench database).
# Threads may share them: the fields are bound once (a cached property; two threads racing
# to bind build equal copies) and neither call writes to the instance.
_CLAIM_INPUT = ClaimInputSerializer()
_CLAIM_OUTPUT = ClaimSerializer()


class ClaimView(APIView):
    permission_classes = [HasRole]
    allowed_roles = CLAIM_ROLES

    @extend_schema(
        operation_id="claim_coupon",
        summary="Claim a campaign's coupon for a customer",
        description="Grants the campaign's coupons to the customer when the campaign is "
        "running and its claim window open, the customer's city is in its scope, the claim "
        "comes through one of the campaign's channels on the campaign's trigger, the customer "
        "is in its audience and not held out, and the limits, stock, budget and "
        "anti-harassment rules allow it; else 409 with the first rule refused, in that order. "
        "The same `idempotency_key` again returns the first grant with 200; the key with "
        "another customer, channel or trigger is refused.",
        request=ClaimInputSerializer,
        responses={
            201: ClaimSerializer,
            200: ClaimSerializer,
            400: _BAD_INPUT,
            403: _FORBIDDEN,
            409: ClaimRefusalSerializer,
            503: OpenApiResponse(
                ClaimRefusalSerializer,
                description="A partner's coupon whose code the partner's platform did not "
                "issue (reason partner_unavailable): nothing stays granted; retry later with "
                "the same key.",
            ),
        },
        examples=_CLAIM_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        data = _CLAIM_INPUT.run_validation(request.data)
        try:
            result = claim_with_partner_codes(**data, now=timezone.now())
        except UnknownClaimTargetError as unknown:
            raise ValidationError({unknown.field: [unknown.detail]}) from unknown
        output = _CLAIM_OUTPUT.to_representation(
            {
                "first": result.coupons[0],
                "coupons": result.coupons,
                "grant": result.grant,
                "campaign": data["campaign"],
                "customer": data["customer"],
                "channel": data["channel"],
            }
        )
        return Response(
            output, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )


class RedemptionView(APIView):
    permission_classes = [HasRole]
    allowed_roles = CLAIM_ROLES

    @extend_schema(
        operation_id="redeem_coupon",
        summary="Redeem a coupon on an order",
        description="Validates owner, validity, threshold and restrictions, records the "
        "order and returns the discount. The same code and order again returns the first "
        "redemption with 200.",
        request=RedemptionInputSerializer,
        responses={
            201: RedemptionSerializer,
            200: RedemptionSerializer,
            400: _BAD_INPUT,
            403: _FORBIDDEN,
            409: RedemptionRefusalSerializer,
        },
        examples=_REDEMPTION_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        serializer = RedemptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = redeem_coupon(
            code=data["code"],
            customer=data["customer"],
            order_id=data["order_id"],
            amount=data["amount"],
            items=[OrderLine(**item) for item in data["items"]],
            store=data["store"],
            city=data["city"],
            now=timezone.now(),
        )
        return Response(
            RedemptionSerializer(result.redemption).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


# Templates and campaigns ----------------------------------------------------------------


class LookupByCodeMixin:
    """The object of a `{code}` path, or 404 in words; every detail route and action reads
    it through get_object()."""

    not_found = "Not found."

    def get_object(self):
        # A NUL byte cannot be in a code (PostgreSQL text cannot hold one): answered like any
        # unknown code, before the query that failed on it (a 500).
        if "\x00" in self.kwargs.get(self.lookup_field, ""):
            raise NotFound(self.not_found)
        try:
            return super().get_object()
        except Http404:
            raise NotFound(self.not_found) from None


_WRITE_RESPONSES = {400: _BAD_INPUT, 403: _FORBIDDEN, 409: CampaignActionRefusalSerializer}
_TEMPLATE_WARNINGS = (
    "Restrictions (categories, SKUs, stores, cities) are the codes orders carry, matched "
    "trimmed and case-insensitively. A value no order holds yet is saved, and named in "
    "`warnings` (with the code it may have meant), so handing the coupon out is a conscious "
    "choice."
)
_TEMPLATE_WARNED_EXAMPLE = OpenApiExample(
    "saved with a warning",
    response_only=True,
    status_codes=["201"],
    value={
        "code": "dried-fruit-10",
        "name": "10 off dried fruit",
        "kind": "cash",
        "face_value": "10.00",
        "max_discount": None,
        "threshold": "0.00",
        "categories": ["Dried fruit"],
        "skus": [],
        "stores": [],
        "cities": [],
        "valid_from": None,
        "valid_until": None,
        "valid_days": 7,
        "cost_bearer": "platform",
        "created_at": "2026-06-30T20:00:00+08:00",
        "updated_at": "2026-06-30T20:00:00+08:00",
        "warnings": [
            "No order holds the category 'Dried fruit' yet, so the coupon fits no order until "
            "one does; did you mean 'dried_fruit'?"
        ],
    },
)


@extend_schema_view(
    list=extend_schema(summary="List coupon templates"),
    retrieve=extend_schema(summary="Read a coupon template"),
    create=extend_schema(
        summary="Create a coupon template",
        description=_TEMPLATE_WARNINGS,
        request=CouponTemplateInputSerializer,
        responses={201: CouponTemplateSavedSerializer, 400: _BAD_INPUT, 403: _FORBIDDEN},
        examples=[_TEMPLATE_WARNED_EXAMPLE],
    ),
    update=extend_schema(
        summary="Replace a coupon template",
        description="Once coupons of the template are issued or a live campaign uses it, "
        "only the name may change (409 template_in_use otherwise). " + _TEMPLATE_WARNINGS,
        request=CouponTemplateInputSerializer,
        responses={200: CouponTemplateSavedSerializer, **_WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change fields of a coupon template",
        description=_TEMPLATE_WARNINGS,
        request=CouponTemplateInputSerializer,
        responses={200: CouponTemplateSavedSerializer, **_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete an unused coupon template",
        responses={204: None, 403: _FORBIDDEN, 409: CampaignActionRefusalSerializer},
    ),
)
class CouponTemplateViewSet(LookupByCodeMixin, viewsets.ModelViewSet):
    permission_classes = [HasRole]
    allowed_roles = WRITE_ROLES
    read_roles = READ_ROLES
    serializer_class = CouponTemplateSerializer
    filterset_class = CouponTemplateFilterSet
    lookup_field = "code"
    not_found = "No coupon template with this code."

    def get_queryset(self):
        return selectors.coupon_templates_for_list()

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = CouponTemplateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        template = coupon_templates.create_coupon_template(
            fields=serializer.validated_data, actor=request.user, now=timezone.now()
        )
        return Response(_saved(template), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        template = self.get_object()
        serializer = CouponTemplateInputSerializer(
            data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        template = coupon_templates.update_coupon_template(
            template=template,
            fields=serializer.validated_data,
            actor=request.user,
            now=timezone.now(),
        )
        return Response(_saved(template))

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        coupon_templates.delete_coupon_template(
            template=self.get_object(), actor=request.user, now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _saved(template) -> dict:
    """The saved template as CouponTemplateSavedSerializer documents it."""
    return {
        **CouponTemplateSerializer(template).data,
        "warnings": selectors.restriction_warnings(template=template),
    }


def _action_schema(summary: str, description: str, examples: list[OpenApiExample]):
    return extend_schema(
        summary=summary,
        description=description,
        request=None,
        responses={
            200: CampaignSerializer,
            403: _FORBIDDEN,
            409: CampaignActionRefusalSerializer,
        },
        examples=examples,
    )


_SCHEDULE_DESCRIPTION = (
    "Validates the draft (resources, channels, window, budget and stock for one grant, one "
    "policy per audience) and schedules it, or starts it at once if its window is open. "
    "Refused with every problem found."
)


@extend_schema_view(
    list=extend_schema(summary="List campaigns"),
    retrieve=extend_schema(summary="Read a campaign"),
    create=extend_schema(
        summary="Create a draft campaign",
        request=CampaignInputSerializer,
        responses={201: CampaignSerializer, 400: _BAD_INPUT, 403: _FORBIDDEN},
    ),
    update=extend_schema(
        summary="Replace a campaign",
        description="A draft may change anything but its code. A scheduled, running or paused "
        "campaign may change only name, stock, budget and claim_ends_at (409 otherwise).",
        request=CampaignInputSerializer,
        responses={200: CampaignSerializer, **_WRITE_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Change fields of a campaign",
        request=CampaignInputSerializer,
        responses={200: CampaignSerializer, **_WRITE_RESPONSES},
    ),
    destroy=extend_schema(
        summary="Delete a draft campaign",
        responses={204: None, 403: _FORBIDDEN, 409: CampaignActionRefusalSerializer},
    ),
)
class CampaignViewSet(LookupByCodeMixin, viewsets.ModelViewSet):
    permission_classes = [HasRole]
    allowed_roles = WRITE_ROLES
    read_roles = READ_ROLES
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilterSet
    lookup_field = "code"
    not_found = "No campaign with this code."

    def get_queryset(self):
        return selectors.campaigns_for_list()

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = CampaignInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields, resources, channels = _campaign_input(serializer.validated_data)
        campaign = campaign_setup.create_campaign(
            fields=fields,
            resources=resources or [],
            channels=channels or [],
            actor=request.user,
            now=timezone.now(),
        )
        return Response(self._render(campaign), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        campaign = self.get_object()
        serializer = CampaignInputSerializer(
            data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        fields, resources, channels = _campaign_input(serializer.validated_data)
        campaign = campaign_setup.update_campaign(
            campaign=campaign,
            fields=fields,
            resources=resources,
            channels=channels,
            actor=request.user,
            now=timezone.now(),
        )
        return Response(self._render(campaign))

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        campaign_setup.delete_campaign(
            campaign=self.get_object(), actor=request.user, now=timezone.now()
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @_action_schema(
        "Schedule (launch) a draft campaign",
        _SCHEDULE_DESCRIPTION,
        [_LAUNCH_REFUSED_EXAMPLE, _INVALID_STATUS_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.schedule_campaign)

    @_action_schema(
        "Launch a draft campaign (the same as schedule)",
        _SCHEDULE_DESCRIPTION,
        [_LAUNCH_REFUSED_EXAMPLE, _INVALID_STATUS_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def launch(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.schedule_campaign)

    @_action_schema(
        "Start a scheduled campaign now",
        "Its claim window opens now; its end stays. Refused with every reason scheduling "
        "would give for the moved window: an end in the past, another campaign of the same "
        "business line on the same segment in an overlapping window (one policy per "
        "audience), a template no longer valid.",
        [_START_REFUSED_EXAMPLE, _INVALID_STATUS_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.start_campaign)

    @_action_schema(
        "Pause a running campaign", "Claims are refused until resumed.", [_INVALID_STATUS_EXAMPLE]
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.pause_campaign)

    @_action_schema(
        "Resume a paused campaign",
        "Running again, or finished if its window ended meanwhile.",
        [_INVALID_STATUS_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.resume_campaign)

    @_action_schema(
        "Finish a campaign now", "Issued coupons stay valid.", [_INVALID_STATUS_EXAMPLE]
    )
    @action(detail=True, methods=["post"])
    def finish(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.finish_campaign)

    @_action_schema("Cancel a campaign", "Issued coupons stay valid.", [_INVALID_STATUS_EXAMPLE])
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, code: str | None = None) -> Response:
        return self._change_status(lifecycle.cancel_campaign)

    def _change_status(self, service) -> Response:
        campaign = service(campaign=self.get_object(), actor=self.request.user, now=timezone.now())
        return Response(self._render(campaign))

    def _render(self, campaign) -> dict:
        # Read back through the list selector: resources and channels fetched in bulk.
        return CampaignSerializer(self.get_queryset().get(pk=campaign.pk)).data


def _campaign_input(data: dict):
    fields = dict(data)
    resources = fields.pop("resources", None)
    channels = fields.pop("channels", None)
    specs = (
        None
        if resources is None
        else [
            campaign_setup.ResourceSpec(template=item["template"], quantity=item["quantity"])
            for item in resources
        ]
    )
    return fields, specs, channels


# A customer's coupons -------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        operation_id="list_customer_coupons",
        summary="List a customer's coupons",
        description="Every coupon issued to the customer, newest first, with the codes of "
        "its campaign and template and the channel its grant is recorded with; filterable by "
        "status and campaign code.",
        parameters=[CUSTOMER_ID_PARAMETER],
        responses={
            200: CustomerCouponSerializer(many=True),
            400: OpenApiResponse(description="A filter value is invalid (the body names it)."),
            403: OpenApiResponse(
                description="Not signed in, or the role may not read customers (marketer, "
                "analyst, support and integration may)."
            ),
            404: CUSTOMER_NOT_FOUND,
        },
    )
)
class CustomerCouponViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Routed on the project's router under customers/{customer_id}/coupons/ (crm/urls.py)."""

    permission_classes = [HasRole]
    allowed_roles = CUSTOMER_READ_ROLES
    serializer_class = CustomerCouponSerializer
    filterset_class = CustomerCouponFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular reads the model (for the filter parameters) without a URL.
            return Coupon.objects.none()
        try:
            return selectors.coupons_of_customer(customer_id=self.kwargs["customer_id"])
        except Customer.DoesNotExist:
            raise NotFound(NO_CUSTOMER) from None


@extend_schema_view(
    list=extend_schema(
        summary="A customer's messages",
        description="Every message to the customer (sent, failed, suppressed, deferred, "
        "queued), newest first, with its campaign and channel codes.",
        parameters=[CUSTOMER_ID_PARAMETER],
        responses={
            200: CustomerMessageSerializer(many=True),
            403: OpenApiResponse(
                description="Not signed in, or the role may not read customers (marketer, "
                "analyst, support and integration may)."
            ),
            404: CUSTOMER_NOT_FOUND,
        },
    )
)
class CustomerMessageViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Routed on the project's router under customers/{customer_id}/messages/ (crm/urls.py)."""

    permission_classes = [HasRole]
    allowed_roles = CUSTOMER_READ_ROLES
    serializer_class = CustomerMessageSerializer
    filterset_class = CustomerMessageFilterSet

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Message.objects.none()
        try:
            return selectors.messages_of_customer(customer_id=self.kwargs["customer_id"])
        except Customer.DoesNotExist:
            raise NotFound(NO_CUSTOMER) from None


@extend_schema_view(
    list=extend_schema(
        summary="A campaign's push runs and their progress",
        description="Each scheduled push of the campaign (newest first): its state, the "
        "audience it covers (holdout included), how many were processed and granted, why the "
        "others were skipped (holdout or a claim refusal reason), and its messages per "
        "channel and status, with the suppressed and deferred ones by reason. Pausing or "
        "resuming the campaign pauses or resumes its running push.",
        parameters=[
            OpenApiParameter("code", str, OpenApiParameter.PATH, description="Campaign code.")
        ],
        responses={
            200: DeliveryRunSerializer(many=True),
            403: _FORBIDDEN,
            404: OpenApiResponse(description="No campaign with this code."),
        },
    )
)
class CampaignDeliveryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Routed on the project's router under campaigns/{code}/deliveries/ (crm/urls.py)."""

    permission_classes = [HasRole]
    allowed_roles = WRITE_ROLES
    read_roles = READ_ROLES
    serializer_class = DeliveryRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return DeliveryRun.objects.none()
        campaign = Campaign.objects.filter(code=self.kwargs["code"]).first()
        if campaign is None:
            raise NotFound("No campaign with this code.")
        return selectors.campaign_pushes(campaign=campaign)

    def list(self, request: Request, *args, **kwargs) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        progress = selectors.push_progress(runs=list(page))
        return self.get_paginated_response(self.get_serializer(progress, many=True).data)
