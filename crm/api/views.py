"""Bulk ingest endpoints (SPEC §5): POST /api/v1/{customers,orders,order-items,events}/bulk/.

Each is an APIView that checks the body's shape and calls crm.services.imports.runs.
ingest_records, the same upsert the CSV import runs; refused items come back by index.
"""

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from crm.api.serializers import BulkIngestInputSerializer, BulkIngestResultSerializer
from crm.core.permissions import INGEST_ROLES, HasRole
from crm.enums import ImportKind
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
    description="Keyed by `customer_id`. `tags` replaces the customer's tags; `identities` "
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
