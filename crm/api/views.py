"""Customer-data API (SPEC §5): bulk ingest, POST /api/v1/{customers,orders,order-items,
events}/bulk/, and one customer's profile, GET /api/v1/customers/{customer_id}/.

Each bulk endpoint is an APIView that checks the body's shape and calls crm.services.imports.
runs.ingest_records, the same upsert the CSV import runs; refused items come back by index.
The profile is a read-only ViewSet on the project's router (crm/urls.py); a customer's
coupons are campaigns' (campaigns.api.views.CustomerCouponViewSet), as crm never imports
campaigns (STYLE §2.1).
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
from rest_framework import mixins, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from crm import selectors
from crm.api.serializers import (
    BulkIngestInputSerializer,
    BulkIngestResultSerializer,
    CustomerProfileSerializer,
    NotFoundSerializer,
    PointsAdjustmentSerializer,
    PointsEntrySerializer,
)
from crm.core.permissions import (
    CUSTOMER_READ_ROLES,
    INGEST_ROLES,
    MARKETER,
    SUPPORT,
    HasRole,
    can_see_pii,
)
from crm.enums import ImportKind
from crm.filters import PointsEntryFilterSet
from crm.models import Customer, PointsEntry
from crm.services import points
from crm.services.imports import runs

_RESPONSES = {
    200: BulkIngestResultSerializer,
    400: OpenApiResponse(description='The body is not {"items": [...]} or has too many items.'),
    403: OpenApiResponse(description="The token's user is neither integration nor marketer."),
}


# How a bad item is answered, on every bulk endpoint.
_ITEM_REFUSALS = (
    "An item with a value out of range, or a text holding a NUL character, is refused on its "
    "own (in `errors`, by index, naming the field); the other items are stored."
)


def _examples(kind: str, items: list[dict], refused_reason: str) -> list[OpenApiExample]:
    return [
        OpenApiExample(f"{kind} items", value={"items": items}, request_only=True),
        OpenApiExample(
            "result",
            value={
                "created": len(items) - 1,
                "updated": 0,
                "unchanged": 0,
                "refused": 1,
                "errors": [{"index": len(items) - 1, "reason": refused_reason}],
            },
            response_only=True,
            status_codes=["200"],
        ),
    ]


class BulkIngestView(APIView):
    """Upsert up to MAX_BULK_ITEMS items of `kind` in one transaction."""

    permission_classes = [HasRole]
    allowed_roles = INGEST_ROLES
    kind: str = ""

    def post(self, request):
        serializer = BulkIngestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = runs.ingest_records(
            kind=self.kind, items=serializer.validated_data["items"], now=timezone.now()
        )
        return Response(BulkIngestResultSerializer(result).data)


@extend_schema(
    summary="Upsert customers",
    description="Keyed by `customer_id`. `tags` replaces the customer's tags; `consent` "
    "lists the off-site channel codes the customer agreed to be messaged through, replacing "
    "what was recorded (a code that is no off-site channel's refuses the item); `identities` "
    "links `source:external_id` identities (merging a placeholder created for one). "
    "`birth_date` must be from 1900-01-01 to today and `registered_at` from 1970-01-01 to one "
    f"day after now, in the operator's time zone. {_ITEM_REFUSALS}",
    request=BulkIngestInputSerializer,
    responses=_RESPONSES,
    examples=_examples(
        "customers",
        [
            {
                "customer_id": "C000123",
                "name": "Li Wei",
                "city": "Shanghai",
                "is_member": True,
                "member_tier": "gold",
                "tags": ["vip"],
                "consent": ["app_push", "wechat_oa"],
                "identities": ["mini_program:oX81"],
            },
            {"customer_id": "C000124", "gender": "unknown"},
        ],
        'gender "unknown" is not one of female, male, other',
    ),
)
class CustomerBulkIngestView(BulkIngestView):
    kind = ImportKind.CUSTOMERS


@extend_schema(
    summary="Upsert orders",
    description="Keyed by `order_id`. `customer_id` may be a customer id or an identity "
    "reference `source:external_id`; an unknown customer is created as a placeholder. "
    "`placed_at` must be from 1970-01-01 to one day after now, in the operator's time zone. "
    f"{_ITEM_REFUSALS}",
    request=BulkIngestInputSerializer,
    responses=_RESPONSES,
    examples=_examples(
        "orders",
        [
            {
                "order_id": "O1001",
                "customer_id": "C000123",
                "placed_at": "2026-03-01T14:30:00+08:00",
                "amount": "1,234.50",
                "channel": "app",
                "status": "paid",
            },
            {
                "order_id": "O1002",
                "customer_id": "mini_program:oX81",
                "placed_at": "2026-13-01",
                "amount": "88",
            },
        ],
        'placed_at "2026-13-01" is not an ISO 8601 date or datetime',
    ),
)
class OrderBulkIngestView(BulkIngestView):
    kind = ImportKind.ORDERS


@extend_schema(
    summary="Upsert order items",
    description="Keyed by `order_id` + `sku`; the order must exist.",
    request=BulkIngestInputSerializer,
    responses=_RESPONSES,
    examples=_examples(
        "order items",
        [
            {
                "order_id": "O1001",
                "sku": "SKU-42",
                "category": "nuts",
                "quantity": 2,
                "unit_price": "49.90",
            },
            {"order_id": "O9999", "sku": "SKU-42", "quantity": 1, "unit_price": "49.90"},
        ],
        'order_id "O9999" is not a known order',
    ),
)
class OrderItemBulkIngestView(BulkIngestView):
    kind = ImportKind.ORDER_ITEMS


@extend_schema(
    summary="Add behaviour events",
    description="An event already stored (same customer, kind, time, channel and sku) is "
    "counted as unchanged. `occurred_at` must be from 1970-01-01 to one day after now, in the "
    f"operator's time zone. {_ITEM_REFUSALS}",
    request=BulkIngestInputSerializer,
    responses=_RESPONSES,
    examples=_examples(
        "events",
        [
            {
                "customer_id": "C000123",
                "kind": "add_to_cart",
                "occurred_at": "2026-03-01T14:25:00+08:00",
                "channel": "app",
                "sku": "SKU-42",
            },
            {"customer_id": "C000123", "kind": "wishlist", "occurred_at": "2026-03-01"},
        ],
        'kind "wishlist" is not one of visit, login, favorite, add_to_cart, store_visit, '
        "share, review, complaint, return_request",
    ),
)
class EventBulkIngestView(BulkIngestView):
    kind = ImportKind.EVENTS


@extend_schema(
    summary="Record referrals",
    description="Who referred whom, for the referral-gift playbook: `referrer` and "
    "`referee` are known customers' customer_ids, `referred_at` when the referee signed up "
    "through the referral (ISO 8601, from 1970-01-01 to one day after now). A referee is "
    "referred once: the first referral stands; the same one again is unchanged, another "
    f"referrer is refused naming the one on record. {_ITEM_REFUSALS}",
    request=BulkIngestInputSerializer,
    responses=_RESPONSES,
    examples=_examples(
        "referrals",
        [
            {
                "referrer": "C000123",
                "referee": "C000456",
                "referred_at": "2026-11-28T10:00:00+08:00",
            },
            {"referrer": "C000123", "referee": "C000123", "referred_at": "2026-11-28"},
        ],
        'referrer "C000123" cannot refer themself',
    ),
)
class ReferralBulkIngestView(BulkIngestView):
    kind = ImportKind.REFERRALS


# One customer ------------------------------------------------------------------------------

NO_CUSTOMER = "No customer with this id."
# The path segment of a customer id: anything but a slash, except `bulk`, which is the bulk
# ingest route of the same prefix (crm/api/urls.py); without the exception this route,
# included first, answered its POSTs with 405.
CUSTOMER_ID_PATH = r"(?!bulk/)[^/]+"

CUSTOMER_ID_PARAMETER = OpenApiParameter(
    "customer_id",
    str,
    OpenApiParameter.PATH,
    description="The customer's external id (customer_id).",
)
CUSTOMER_NOT_FOUND = OpenApiResponse(
    response=NotFoundSerializer, description="No customer has this customer_id."
)
_READ_FORBIDDEN = OpenApiResponse(
    description="Not signed in, or the role may not read customers (marketer, analyst, "
    "support and integration may)."
)
_PROFILE_EXAMPLE = {
    "customer_id": "C000123",
    "name": "Li Wei",
    "phone": "138****5678",
    "email": "l***@example.com",
    "gender": "female",
    "birth_date": "1990-05-04",
    "city": "Shanghai",
    "region": "East",
    "occupation": "",
    "is_member": True,
    "member_tier": "gold",
    "points": 1200,
    "registered_at": "2024-03-01T09:30:00+08:00",
    "acquisition_channel": "mini_program",
    "consent": {"sms": True, "app_push": False},
    "tags": ["vip"],
    "is_placeholder": False,
    "pii_erased_at": None,
    "first_order_at": "2024-03-02T20:15:00+08:00",
    "last_order_at": "2026-06-20T19:40:00+08:00",
    "order_count": 14,
    "total_spent": "2350.00",
    "avg_order_value": "167.86",
    "is_returning": True,
    "value_tier": "high",
    "lifecycle_stage": "mature",
    "preferred_category": "nuts",
    "promotion_sensitivity": "0.2857",
    "preferred_channel": "app",
    "weekend_buyer": True,
    "usual_daypart": "evening",
    "rfm_recency": 5,
    "rfm_frequency": 4,
    "rfm_monetary": 5,
    "rfm_group": "champions",
    "created_at": "2024-03-01T09:30:00+08:00",
    "updated_at": "2026-06-30T03:00:00+08:00",
}


@extend_schema_view(
    retrieve=extend_schema(
        operation_id="read_customer",
        summary="Read a customer's profile, metrics and labels",
        description="The stored profile with the purchase metrics and labels of the last "
        "metrics recompute. Phone and e-mail are masked unless the caller may see personal "
        "data (support staff may).",
        parameters=[CUSTOMER_ID_PARAMETER],
        responses={200: CustomerProfileSerializer, 403: _READ_FORBIDDEN, 404: CUSTOMER_NOT_FOUND},
        examples=[
            OpenApiExample(
                "masked contact", value=_PROFILE_EXAMPLE, response_only=True, status_codes=["200"]
            )
        ],
    )
)
class CustomerViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [HasRole]
    allowed_roles = CUSTOMER_READ_ROLES
    serializer_class = CustomerProfileSerializer
    lookup_field = "customer_id"
    lookup_value_regex = CUSTOMER_ID_PATH
    # A detail route only: no list filters apply to it.
    filterset_class = None

    def get_queryset(self):
        return selectors.customers_for_list(show_pii=can_see_pii(self.request.user))

    def get_object(self):
        # No customer id holds a NUL, and PostgreSQL text cannot even be compared with one.
        if "\x00" in self.kwargs[self.lookup_field]:
            raise NotFound(NO_CUSTOMER)
        try:
            return super().get_object()
        except Http404:
            raise NotFound(NO_CUSTOMER) from None


POINTS_ADJUST_ROLES = frozenset({MARKETER, SUPPORT})


@extend_schema_view(
    list=extend_schema(
        operation_id="list_customer_points",
        summary="A customer's points ledger",
        description="Every change to the customer's points balance, newest first: how many "
        "points, the balance after, why (import, API, a points coupon redeemed or its order "
        "refunded, a staff adjustment) and what caused it. The database writes a row for "
        "every change, whatever made it.",
        parameters=[CUSTOMER_ID_PARAMETER],
        responses={
            200: PointsEntrySerializer(many=True),
            403: _READ_FORBIDDEN,
            404: CUSTOMER_NOT_FOUND,
        },
    ),
    create=extend_schema(
        operation_id="adjust_customer_points",
        summary="Adjust a customer's points",
        description="Add points (or take some away with a negative change), with the reason "
        "kept in the ledger. Marketers and support staff may. 409 insufficient_points when "
        "the balance would go below 0, balance_too_large past the largest balance.",
        parameters=[CUSTOMER_ID_PARAMETER],
        request=PointsAdjustmentSerializer,
        responses={
            201: PointsEntrySerializer,
            400: OpenApiResponse(description="No change, a change of 0, or no note."),
            403: OpenApiResponse(description="Only marketers and support staff adjust points."),
            404: CUSTOMER_NOT_FOUND,
            409: OpenApiResponse(description="insufficient_points or balance_too_large."),
        },
    ),
)
class CustomerPointsViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Routed on the project's router under customers/{customer_id}/points/ (crm/urls.py)."""

    permission_classes = [HasRole]
    serializer_class = PointsEntrySerializer
    filterset_class = PointsEntryFilterSet

    allowed_roles = POINTS_ADJUST_ROLES
    read_roles = CUSTOMER_READ_ROLES

    def _customer_id(self) -> str:
        return self.kwargs["customer_id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PointsEntry.objects.none()
        try:
            return selectors.points_ledger(customer_id=self._customer_id())
        except Customer.DoesNotExist:
            raise NotFound(NO_CUSTOMER) from None

    def create(self, request, *args, **kwargs):
        try:
            customer = selectors.customer_by_id(customer_id=self._customer_id())
        except Customer.DoesNotExist:
            raise NotFound(NO_CUSTOMER) from None
        adjustment = PointsAdjustmentSerializer(data=request.data)
        adjustment.is_valid(raise_exception=True)
        done = points.adjust_points(
            customer=customer,
            change=adjustment.validated_data["change"],
            note=adjustment.validated_data["note"],
            actor=request.user,
            now=timezone.now(),
        )
        return Response(PointsEntrySerializer(done.entry).data, status=201)
