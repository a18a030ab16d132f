"""Segments API (SPEC §5): CRUD, preview, members, refresh, export, overlap, the field
catalogue and the values present in the data, and snapshot upload.

Marketers write; analysts read (and may preview, which writes nothing). Every view parses
input, calls one service or selector and renders.

Every 400 of these endpoints is {"path", "message"}: rules the catalogue refuses name the
node ("all[1].any[0]"), so the builder shows the message there; a request field or query
parameter that is wrong names it ("name", "as_of", "with"); "" is the rules' root or the
request as a whole (JSON that does not decode). Business refusals are 409, and a query that
ran out of time (settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS) 422 {"reason":
"statement_timeout", "detail"}. A segment id that is not a number is an unknown segment (404).
"""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from crm.core.api import REPLICA_CONFLICT_RESPONSE
from crm.core.csv_export import stream_csv
from crm.core.permissions import READ_ROLES, WRITE_ROLES, HasRole, can_see_pii
from crm.models import Customer
from segments import selectors
from segments.api.parsers import DepthLimitedJSONParser
from segments.api.serializers import (
    FieldValuesSerializer,
    SegmentDetailSerializer,
    SegmentDuplicateInputSerializer,
    SegmentErrorSerializer,
    SegmentFieldSerializer,
    SegmentInputSerializer,
    SegmentMemberSerializer,
    SegmentOverlapSerializer,
    SegmentPreviewInputSerializer,
    SegmentPreviewSerializer,
    SegmentRefreshJobSerializer,
    SegmentRefusalSerializer,
    SegmentSerializer,
    SizeHistorySerializer,
    SnapshotUploadInputSerializer,
    SnapshotUploadSerializer,
)
from segments.catalogue import field_catalogue
from segments.filters import SegmentFilterSet, SegmentMemberFilterSet
from segments.models import Segment
from segments.rules import RuleError
from segments.services import definitions, preview, refresh, uploads
from segments.services.query_settings import rows_within_time_limit, segment_query_time_limit

_NO_SEGMENT = "No segment with this id."

_FORBIDDEN = OpenApiResponse(description="The user's role may not do this.")
_RULES_REFUSED = OpenApiResponse(
    response=SegmentErrorSerializer,
    description="The request is refused: rules the field catalogue refuses (`path` names "
    "the node) or a request field that is wrong (`path` names it).",
)
_BAD_REQUEST = OpenApiResponse(
    response=SegmentErrorSerializer,
    description="A request field or query parameter is wrong; `path` names it.",
)
_STORED_RULES_REFUSED = OpenApiResponse(
    response=SegmentErrorSerializer,
    description="A filter is wrong (`path` names it), or the segment's stored rules no longer "
    "validate (e.g. a segment they use was deleted; `path` names their node).",
)
_TIMED_OUT = OpenApiResponse(
    response=SegmentRefusalSerializer,
    description="The query took longer than the time limit and was cancelled "
    "(reason `statement_timeout`).",
    examples=[
        OpenApiExample(
            "statement timeout",
            value={
                "reason": "statement_timeout",
                "detail": "Finding the customers took longer than 30 s and was stopped; try "
                "simpler rules, or try again later.",
            },
        )
    ],
)
_NOT_FOUND = OpenApiResponse(description="No segment with this id.")
_SEGMENT_ID = OpenApiParameter(
    "segment_pk", int, OpenApiParameter.PATH, description="The segment's id."
)
_RULES_EXAMPLE = {
    "all": [
        {
            "field": "order_count",
            "op": "gte",
            "value": 3,
            "window": {"last_days": 30},
        },
        {
            "any": [
                {"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]},
                {"field": "tag", "op": "has", "value": "vip"},
            ]
        },
        {"not": {"field": "lifecycle_stage", "op": "in", "value": ["churned", "silent"]}},
    ]
}
_RULE_ERROR_EXAMPLE = OpenApiExample(
    "rules refused",
    response_only=True,
    status_codes=["400"],
    value={
        "path": "all[1].any[0]",
        "message": 'field "city" does not accept operator "gte" (accepted: eq, ne, in, '
        "not_in, is_null)",
    },
)
_SEGMENT_EXAMPLE = {
    "id": 12,
    "name": "Loyal Shanghai and Beijing buyers",
    "description": "",
    "kind": "dynamic",
    "rules": _RULES_EXAMPLE,
    "member_count": 18234,
    "last_refreshed_at": "2026-06-30T03:00:00+08:00",
    "created_by": "mia",
    "updated_by": "mia",
    "created_at": "2026-06-01T10:00:00+08:00",
    "updated_at": "2026-06-01T10:00:00+08:00",
    "sentence": "Customers who ordered at least 3 times in the last 30 days and (in Shanghai "
    "or Beijing or tagged vip) and whose lifecycle stage is neither churned nor silent",
}


class CSVRenderer(BaseRenderer):
    """Lets a client that accepts only text/csv reach the export (the body is streamed
    by the view itself, so this renders nothing)."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def first_error(detail: Any, path: str = "") -> tuple[str, str]:
    """The first problem of a DRF error detail as (path, message): fields by name, list
    items by index ("customer_ids[3]"), errors of the whole request at ""."""
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        if isinstance(key, int) or str(key).isdigit():
            step = f"{path}[{key}]"
        elif key == api_settings.NON_FIELD_ERRORS_KEY:
            step = path
        else:
            step = f"{path}.{key}" if path else str(key)
        return first_error(value, step)
    if isinstance(detail, list) and detail:
        return first_error(detail[0], path)
    return path, str(detail)


class SegmentErrorsMixin:
    """The error answers of the segments API (see the module docstring); an error answers
    JSON even to a client that asked for CSV."""

    # Where a RuleError points: rules sent with the request, or rules stored earlier.
    rule_error_prefix = ""

    def handle_exception(self, exc):
        if isinstance(exc, RuleError):
            response = _error(exc.path, self.rule_error_prefix + exc.message)
        elif isinstance(exc, ValidationError):
            response = _error(*first_error(exc.detail))
        elif isinstance(exc, ParseError):
            response = _error("", str(exc.detail))
        elif isinstance(exc, DjangoValidationError):
            # A service's full_clean(): by field, or of the segment as a whole.
            response = _error(
                *first_error(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
            )
        else:
            response = super().handle_exception(exc)
        if response.status_code >= 400:
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return response


def _error(path: str, message: str) -> Response:
    return Response({"path": path, "message": message}, status=status.HTTP_400_BAD_REQUEST)


@extend_schema_view(
    list=extend_schema(
        summary="List segments",
        responses={200: SegmentSerializer(many=True), 400: _BAD_REQUEST},
    ),
    retrieve=extend_schema(summary="Read a segment", responses={200: SegmentDetailSerializer}),
    create=extend_schema(
        summary="Create a segment",
        description="Validates the rules against the field catalogue, stores them in "
        "canonical form and starts the first refresh.",
        request=SegmentInputSerializer,
        responses={201: SegmentDetailSerializer, 400: _RULES_REFUSED, 403: _FORBIDDEN},
        examples=[
            OpenApiExample(
                "segment",
                request_only=True,
                value={"name": "Loyal Shanghai and Beijing buyers", "rules": _RULES_EXAMPLE},
            ),
            OpenApiExample(
                "created", response_only=True, status_codes=["201"], value=_SEGMENT_EXAMPLE
            ),
            _RULE_ERROR_EXAMPLE,
        ],
    ),
    update=extend_schema(
        summary="Replace a segment",
        description="A change of rules or kind starts a refresh (a snapshot is re-frozen).",
        request=SegmentInputSerializer,
        responses={200: SegmentDetailSerializer, 400: _RULES_REFUSED, 403: _FORBIDDEN},
        examples=[_RULE_ERROR_EXAMPLE],
    ),
    partial_update=extend_schema(
        summary="Change fields of a segment",
        request=SegmentInputSerializer,
        responses={200: SegmentDetailSerializer, 400: _RULES_REFUSED, 403: _FORBIDDEN},
    ),
    destroy=extend_schema(
        summary="Delete a segment",
        description="Refused (409 segment_in_use) while a campaign or another segment's "
        "in_segment condition uses it; the detail names them.",
        responses={204: None, 403: _FORBIDDEN, 409: SegmentRefusalSerializer},
        examples=[
            OpenApiExample(
                "in use",
                response_only=True,
                status_codes=["409"],
                value={
                    "reason": "segment_in_use",
                    "detail": 'Segment "VIP" is used by segment "VIP in Shanghai", campaign '
                    "summer-snacks; remove it from there first.",
                },
            )
        ],
    ),
)
class SegmentViewSet(SegmentErrorsMixin, viewsets.ModelViewSet):
    permission_classes = [HasRole]
    allowed_roles = WRITE_ROLES
    read_roles = READ_ROLES
    serializer_class = SegmentSerializer
    filterset_class = SegmentFilterSet
    # Any path segment reaches the view, which answers 404 for what is no id (a 500 before:
    # the database refused "abc" as an id).
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.segments_for_list()

    # CRUD ---------------------------------------------------------------------------------

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return Response(_detail(self._segment()))

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = SegmentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        segment = definitions.create_segment(
            **serializer.validated_data, actor=request.user, now=timezone.now()
        )
        return Response(_detail(segment), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args, **kwargs) -> Response:
        segment = self._segment()
        serializer = SegmentInputSerializer(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        segment = definitions.update_segment(
            segment=segment,
            name=data.get("name"),
            description=data.get("description"),
            kind=data.get("kind"),
            rules=data.get("rules"),
            actor=request.user,
            now=timezone.now(),
        )
        return Response(_detail(segment))

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        definitions.delete_segment(segment=self._segment(), actor=request.user, now=timezone.now())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # Actions ------------------------------------------------------------------------------

    @extend_schema(
        summary="Count the customers matching rules (the builder's live count)",
        description="Writes nothing. With `builder_session`, a newer preview of the same "
        "session cancels this one on the database (409 preview_superseded).",
        request=SegmentPreviewInputSerializer,
        responses={
            200: SegmentPreviewSerializer,
            400: _RULES_REFUSED,
            403: _FORBIDDEN,
            409: SegmentRefusalSerializer,
            422: _TIMED_OUT,
            503: REPLICA_CONFLICT_RESPONSE,
        },
        examples=[
            OpenApiExample(
                "preview",
                request_only=True,
                value={"rules": _RULES_EXAMPLE, "builder_session": "b7Qx9s2LkP0aZ1"},
            ),
            OpenApiExample(
                "counted",
                response_only=True,
                status_codes=["200"],
                value={
                    "count": 18234,
                    "total": 1000000,
                    "sample": [
                        {
                            "customer_id": "C000123",
                            "name": "Li Wei",
                            "city": "Shanghai",
                            "lifecycle_stage": "mature",
                            "order_count": 9,
                            "total_spent": "1280.00",
                            "last_order_at": "2026-06-28T19:04:00+08:00",
                        }
                    ],
                    "description": _SEGMENT_EXAMPLE["sentence"],
                },
            ),
            _RULE_ERROR_EXAMPLE,
        ],
    )
    @action(detail=False, methods=["post"], allowed_roles=READ_ROLES)
    def preview(self, request: Request) -> Response:
        serializer = SegmentPreviewInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        as_of = data.get("as_of")
        counted = preview.preview_segment_rules(
            rules=data["rules"],
            as_of=as_of or timezone.now(),
            as_of_is_now=as_of is None,
            segment=data.get("segment"),
            viewer_id=request.user.pk,
            builder_session=data.get("builder_session", ""),
        )
        return Response(SegmentPreviewSerializer(counted).data)

    @extend_schema(
        summary="The field catalogue: every field a rule may use",
        responses={200: SegmentFieldSerializer(many=True)},
    )
    @action(detail=False, methods=["get"], pagination_class=None, filterset_class=None)
    def fields(self, request: Request) -> Response:
        return Response(SegmentFieldSerializer(field_catalogue(), many=True).data)

    @extend_schema(
        summary="Values of a text field present in the data (the builder's suggestions)",
        parameters=[
            OpenApiParameter(
                "field",
                str,
                required=True,
                description="A text field (city, tag, bought_category...) or a purchase "
                "scope key (category, sku, store, channel).",
            ),
            OpenApiParameter("search", str, description="Only values containing this."),
        ],
        responses={200: FieldValuesSerializer, 400: _BAD_REQUEST},
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="field-values",
        pagination_class=None,
        filterset_class=None,
    )
    def field_values(self, request: Request) -> Response:
        name = request.query_params.get("field", "")
        search = request.query_params.get("search", "")
        if "\x00" in search:
            raise ValidationError({"search": ["The search must not contain a NUL character."]})
        try:
            values = selectors.field_values(field=name, search=search)
        except KeyError:
            known = ", ".join(sorted(selectors.VALUE_SOURCES))
            raise ValidationError({"field": [f"No values for {name!r}; one of {known}."]}) from None
        return Response(FieldValuesSerializer({"field": name, "values": values}).data)

    @extend_schema(
        summary="Sizes of this segment, another one and of both",
        parameters=[OpenApiParameter("with", int, required=True, description="The other id.")],
        responses={
            200: SegmentOverlapSerializer,
            400: _STORED_RULES_REFUSED,
            404: _NOT_FOUND,
            422: _TIMED_OUT,
            503: REPLICA_CONFLICT_RESPONSE,
        },
    )
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def overlap(self, request: Request, pk: str | None = None) -> Response:
        segment = self._segment()
        other_id = request.query_params.get("with", "")
        other = selectors.segment_named_by(other_id)
        if other is None:
            raise ValidationError({"with": [f"No segment with id {other_id!r}."]})
        with segment_query_time_limit(replica=True):
            sizes = selectors.segment_overlap_summary(
                first=segment, second=other, as_of=timezone.now()
            )
        return Response(SegmentOverlapSerializer(sizes).data)

    @extend_schema(
        summary="The size counted at each refresh, oldest first",
        responses={200: SizeHistorySerializer(many=True)},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="size-history",
        pagination_class=None,
        filterset_class=None,
    )
    def size_history(self, request: Request, pk: str | None = None) -> Response:
        history = selectors.segment_size_history(segment=self._segment())
        return Response(SizeHistorySerializer(history, many=True).data)

    @extend_schema(
        methods=["POST"],
        summary="Refresh the segment's materialised members (in Celery)",
        description="Answers 202 with the job; GET this URL (optionally ?job=ID) for its "
        "progress. Two refreshes of one segment never interleave: the second waits.",
        request=None,
        responses={202: SegmentRefreshJobSerializer, 403: _FORBIDDEN},
    )
    @extend_schema(
        methods=["GET"],
        summary="Progress of the segment's latest refresh (or of ?job=ID)",
        parameters=[OpenApiParameter("job", int, description="A refresh job of the segment.")],
        responses={
            200: SegmentRefreshJobSerializer,
            404: OpenApiResponse(description="Never refreshed, or no such refresh job."),
        },
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None, filterset_class=None)
    def refresh(self, request: Request, pk: str | None = None) -> Response:
        segment = self._segment()
        if request.method == "POST":
            job = refresh.start_segment_refresh(
                segment=segment, actor=request.user, now=timezone.now()
            )
            job.refresh_from_db()
            return Response(SegmentRefreshJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
        jobs = selectors.segment_refresh_jobs(segment=segment)
        job_id = request.query_params.get("job")
        if job_id is None:
            job = jobs.first()
        elif selectors.ID_TEXT.fullmatch(job_id):
            job = get_object_or_404(jobs, pk=int(job_id))
        else:
            raise Http404("No refresh job with this id.")
        if job is None:
            return Response(
                {"detail": "This segment was never refreshed."}, status=status.HTTP_404_NOT_FOUND
            )
        return Response(SegmentRefreshJobSerializer(job).data)

    @extend_schema(
        summary="Duplicate a segment (a snapshot with its frozen members)",
        request=SegmentDuplicateInputSerializer,
        responses={201: SegmentDetailSerializer, 400: _RULES_REFUSED, 403: _FORBIDDEN},
    )
    @action(detail=True, methods=["post"], pagination_class=None)
    def duplicate(self, request: Request, pk: str | None = None) -> Response:
        serializer = SegmentDuplicateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        copy = definitions.duplicate_segment(
            segment=self._segment(),
            name=serializer.validated_data.get("name"),
            actor=request.user,
            now=timezone.now(),
        )
        return Response(_detail(copy), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Upload a customer-id list as a snapshot segment",
        description="Unknown ids are reported by line (or position) and the known ones "
        "stored; refused (409 no_known_customers) when none is known.",
        request={
            "application/json": SnapshotUploadInputSerializer,
            "multipart/form-data": SnapshotUploadInputSerializer,
        },
        responses={
            201: SnapshotUploadSerializer,
            400: _BAD_REQUEST,
            403: _FORBIDDEN,
            409: SegmentRefusalSerializer,
        },
        examples=[
            OpenApiExample(
                "list",
                request_only=True,
                value={"name": "Store event guests", "customer_ids": ["C000123", "C9"]},
            ),
            OpenApiExample(
                "stored",
                response_only=True,
                status_codes=["201"],
                value={
                    "segment": {**_SEGMENT_EXAMPLE, "kind": "snapshot", "rules": {}},
                    "stored": 1,
                    "duplicates": 0,
                    "unknown_count": 1,
                    "unknown": [
                        {"line": 2, "customer_id": "C9", "reason": 'unknown customer id "C9"'}
                    ],
                },
            ),
        ],
    )
    @action(
        detail=False,
        methods=["post"],
        parser_classes=[DepthLimitedJSONParser, MultiPartParser, FormParser],
        pagination_class=None,
    )
    def upload(self, request: Request) -> Response:
        serializer = SnapshotUploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "file" in data:
            lines = uploads.read_customer_id_file(data["file"])
        else:
            lines = uploads.customer_id_lines(data["customer_ids"])
        result = uploads.upload_snapshot(
            name=data["name"],
            description=data["description"],
            lines=lines,
            actor=request.user,
            now=timezone.now(),
        )
        return Response(SnapshotUploadSerializer(result).data, status=status.HTTP_201_CREATED)

    def _segment(self) -> Segment:
        """The segment of the URL (without the list filters: they are not its identity)."""
        segment = _segment_or_404(self.kwargs["pk"])
        self.check_object_permissions(self.request, segment)
        return segment


def _segment_or_404(text: str) -> Segment:
    segment = selectors.segment_named_by(text)
    if segment is None:
        raise Http404(_NO_SEGMENT)
    return segment


@extend_schema(parameters=[_SEGMENT_ID])
class SegmentMemberViewSet(SegmentErrorsMixin, viewsets.GenericViewSet):
    """A segment's members now: the list (paginated, filterable) and the CSV export.

    Contact is masked in SQL without the PII permission (crm.selectors.with_contact_shown).
    Both run under the segment query time limit.
    """

    permission_classes = [HasRole]
    allowed_roles = READ_ROLES
    read_roles = READ_ROLES
    serializer_class = SegmentMemberSerializer
    filterset_class = SegmentMemberFilterSet
    # RuleErrors here come from the segment's stored rules, not from the request.
    rule_error_prefix = "This segment's rules no longer validate: "

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # drf-spectacular reads the model (for the filter parameters) without a URL.
            return Customer.objects.none()
        segment = _segment_or_404(self.kwargs["segment_pk"])
        return selectors.segment_members_for_list(
            segment=segment, as_of=timezone.now(), show_pii=can_see_pii(self.request.user)
        )

    @extend_schema(
        summary="The segment's members now (paginated, filterable, contact masked)",
        responses={
            200: SegmentMemberSerializer(many=True),
            400: _STORED_RULES_REFUSED,
            404: _NOT_FOUND,
            422: _TIMED_OUT,
        },
    )
    def list(self, request: Request, segment_pk: str | None = None) -> Response:
        members = self.filter_queryset(self.get_queryset())
        with segment_query_time_limit():
            page = self.paginate_queryset(members)
            return self.get_paginated_response(SegmentMemberSerializer(page, many=True).data)

    @extend_schema(
        summary="The members as CSV (streamed; the member filters apply)",
        description="The download starts once the first members are found; a query that "
        "takes longer than the time limit before that answers 422.",
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description="Phone and e-mail are masked without the PII permission; cells "
                "a spreadsheet would run as formulas are neutralised.",
            ),
            # Errors answer JSON whatever the client accepts.
            (400, "application/json"): _STORED_RULES_REFUSED,
            404: _NOT_FOUND,
            (422, "application/json"): _TIMED_OUT,
        },
    )
    def export(self, request: Request, segment_pk: str | None = None):
        members = self.filter_queryset(self.get_queryset())
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return stream_csv(
            filename=f"segment-{segment_pk}-{stamp}.csv",
            header=selectors.MEMBER_EXPORT_HEADER,
            rows=rows_within_time_limit(lambda: selectors.member_export_rows(members)),
        )


def _detail(segment: Segment) -> dict:
    try:
        segment.sentence = selectors.segment_sentence(segment=segment)
    except RuleError as error:
        segment.sentence = f"The rules no longer validate: {error}"
    return SegmentDetailSerializer(segment).data
