"""API plumbing shared by every app: pagination and the JSON error handler."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class DomainRefusal(Exception):  # noqa: N818 - a refusal is data, not an error (house rule 7)
    """Base of business refusals: a stable machine `reason` and a human `detail`.

    The API answers 409 {"reason", "detail"}; pages show `detail` as a form error.
    """

    http_status = status.HTTP_409_CONFLICT

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = str(reason)
        self.detail = detail or str(reason)


class RefusalSerializer(serializers.Serializer):
    """A refusal's answer: its stable reason and what a person reads."""

    reason = serializers.CharField()
    detail = serializers.CharField()


# The 503 of an operation that reads the read replica (crm.core.replica.ReplicaConflict).
REPLICA_CONFLICT_RESPONSE = OpenApiResponse(
    response=RefusalSerializer,
    description="The read replica cancelled the query to go on replaying the primary's "
    "changes (reason `replica_conflict`); ask again after `Retry-After` seconds.",
    examples=[
        OpenApiExample(
            "replica conflict",
            value={
                "reason": "replica_conflict",
                "detail": "The read replica stopped this query to apply the latest changes "
                "from the primary database; try again in a moment.",
            },
            status_codes=["503"],
        )
    ],
)


def exception_handler(exc, context):
    """Map domain refusals and model validation errors to JSON; defer the rest to DRF."""
    if isinstance(exc, DomainRefusal):
        body = {"reason": exc.reason, "detail": exc.detail}
        # Refusals that found several problems (campaign launch validation) list them all.
        if getattr(exc, "reasons", None):
            body["reasons"] = exc.reasons
        # A refusal that passes with time (a busy replica) says when to ask again.
        retry_after = getattr(exc, "retry_after_seconds", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        return Response(body, status=exc.http_status, headers=headers)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
