"""Serializers of the segments API; they check shape and type only (house rule 9).

Rule trees are JSON checked by segments.rules in the services (a refusal is 400 with the
node's `path` and a `message`; a wrong request field answers the same shape, see
segments.api.views). Segments have no external code (SPEC §1: they are named), so the API
refers to them by id, as campaigns do for their audience.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from crm.api.serializers import UnknownAsNullChoiceField
from crm.core.models import Job
from crm.enums import RfmGroup
from crm.models import Customer
from segments.enums import SegmentKind
from segments.json_text import MAX_JSON_DEPTH, RULE_TREE_HINT, json_depth_exceeds
from segments.models import Segment, SegmentSizeSnapshot
from segments.rules import MAX_CONDITIONS, MAX_DEPTH
from segments.selectors import PREVIEW_SAMPLE_FIELDS

RULES_HELP = (
    f"A rule tree of at most {MAX_DEPTH} levels and {MAX_CONDITIONS} conditions: "
    '{"all": [...]}, {"any": [...]}, {"not": node} or a condition {"field", "op", "value"} '
    '(+ "window", "kind", "category"/"sku"/"store"/"channel" where the field takes them; '
    "see GET /api/v1/segments/fields/)."
)


@extend_schema_field(OpenApiTypes.OBJECT)
class RulesField(serializers.JSONField):
    """A rule tree: any JSON object; its meaning is checked by the catalogue."""

    def to_internal_value(self, data):
        # A form field's text is decoded here, not by the API's parser: bound its nesting
        # first (segments.json_text).
        if getattr(data, "is_json_string", False) and json_depth_exceeds(data):
            raise serializers.ValidationError(
                f"The rules are nested more than {MAX_JSON_DEPTH} levels deep ({RULE_TREE_HINT})."
            )
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give the rules as a JSON object.")
        return value


# Errors -----------------------------------------------------------------------------------


class SegmentErrorSerializer(serializers.Serializer):
    """Every 400 of the segments API: where the problem is and what it is."""

    path = serializers.CharField(
        allow_blank=True,
        help_text='Where the problem is: a node of the rules ("all[1].any[0]"), a request '
        'field or query parameter ("name", "as_of", "with", "customer_ids[3]"), or "" for '
        "the rules' root or the request as a whole.",
    )
    message = serializers.CharField(help_text="What is wrong with it, for a person to read.")


class SegmentRefusalSerializer(serializers.Serializer):
    reason = serializers.CharField(
        help_text="segment_in_use, empty_upload, no_known_customers, unreadable_file, "
        "no_customer_id_column, preview_superseded or statement_timeout (the query took "
        "longer than the time limit, 422)."
    )
    detail = serializers.CharField(help_text="What was refused and why, for a person to read.")


# Segments ---------------------------------------------------------------------------------


class SegmentInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    rules = RulesField(help_text=RULES_HELP)


class SegmentSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null: a removed user."
    )
    updated_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="null: a removed user."
    )
    member_count = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Members counted at the last refresh (null: never refreshed).",
    )

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "kind",
            "rules",
            "member_count",
            "last_refreshed_at",
            "created_by",
            "updated_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SegmentDetailSerializer(SegmentSerializer):
    sentence = serializers.CharField(
        read_only=True, help_text="The rules as one sentence in the marketer's words."
    )

    class Meta(SegmentSerializer.Meta):
        fields = [*SegmentSerializer.Meta.fields, "sentence"]
        read_only_fields = fields


class SegmentDuplicateInputSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=120, required=False, help_text='Default: "Copy of <name>".'
    )


# Preview ----------------------------------------------------------------------------------


class SegmentPreviewInputSerializer(serializers.Serializer):
    rules = RulesField(help_text=RULES_HELP)
    as_of = serializers.DateTimeField(
        required=False,
        help_text="Evaluate as of this moment (default: now). Windows, stages and ages are "
        "computed as of it; only orders and events at or before it count.",
    )
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(),
        required=False,
        help_text="The segment being edited, so that a reference back to it is a cycle.",
    )
    builder_session = serializers.RegexField(
        r"^[A-Za-z0-9_-]{8,32}$",
        required=False,
        help_text="A token of one builder page: a new preview with the same token cancels "
        "the previous one still counting on the database.",
    )


class SampleCustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = list(PREVIEW_SAMPLE_FIELDS)
        read_only_fields = fields


class SegmentPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Customers matching the rules.")
    total = serializers.IntegerField(help_text="All customers.")
    sample = SampleCustomerSerializer(many=True, help_text="The first matching customers.")
    description = serializers.CharField(help_text="The rules as one sentence.")


# Members, export, overlap -----------------------------------------------------------------


class SegmentMemberSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(
        source="phone_shown", read_only=True, help_text="Masked without the PII permission."
    )
    email = serializers.CharField(
        source="email_shown", read_only=True, help_text="Masked without the PII permission."
    )
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    rfm_group = UnknownAsNullChoiceField(
        choices=RfmGroup.choices, help_text="null until the customer has a paid order."
    )

    class Meta:
        model = Customer
        fields = [
            "customer_id",
            "name",
            "phone",
            "email",
            "gender",
            "city",
            "region",
            "is_member",
            "member_tier",
            "tags",
            "lifecycle_stage",
            "rfm_group",
            "value_tier",
            "order_count",
            "total_spent",
            "last_order_at",
        ]
        read_only_fields = fields


class SegmentOverlapSerializer(serializers.Serializer):
    segment = serializers.IntegerField(help_text="This segment's id.")
    other = serializers.IntegerField(help_text="The other segment's id (`with`).")
    first = serializers.IntegerField(help_text="Customers in this segment.")
    second = serializers.IntegerField(help_text="Customers in the other segment.")
    both = serializers.IntegerField(help_text="Customers in both.")
    total = serializers.IntegerField(help_text="All customers.")


# Refresh ----------------------------------------------------------------------------------


class SegmentRefreshJobSerializer(serializers.ModelSerializer):
    job = serializers.IntegerField(source="pk", read_only=True)
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = Job
        fields = [
            "job",
            "status",
            "total",
            "done",
            "percent",
            "message",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SizeHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentSizeSnapshot
        fields = ["at", "size"]
        read_only_fields = fields


# Catalogue and values ---------------------------------------------------------------------


class FieldChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class SegmentFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    family = serializers.CharField()
    value_type = serializers.CharField()
    operators = serializers.ListField(child=serializers.CharField())
    takes_window = serializers.BooleanField()
    takes_kind = serializers.BooleanField()
    kinds = FieldChoiceSerializer(many=True)
    takes_purchase_scope = serializers.BooleanField()
    choices = FieldChoiceSerializer(many=True)
    minimum = serializers.JSONField(
        allow_null=True, help_text="A whole number, or a decimal as text (exact)."
    )
    maximum = serializers.JSONField(
        allow_null=True, help_text="A whole number, or a decimal as text (exact)."
    )
    follows_as_of = serializers.BooleanField(
        help_text="False for labels that only exist as today's values."
    )
    help_text = serializers.CharField(allow_blank=True)


class FieldValuesSerializer(serializers.Serializer):
    field = serializers.CharField()
    values = serializers.ListField(
        child=serializers.CharField(), help_text="Present in the data, most frequent first."
    )


# Snapshot upload --------------------------------------------------------------------------


class SnapshotUploadInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    customer_ids = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True),
        required=False,
        max_length=2_000_000,
        help_text="The customer ids, in order (refused ones are reported by position, "
        "1 = first). Or send a CSV as `file` (multipart) instead.",
    )
    file = serializers.FileField(
        required=False,
        help_text="A CSV: one customer id per line, or a customer_id column with a header.",
    )

    def validate(self, attrs):
        if ("customer_ids" in attrs) == ("file" in attrs):
            raise serializers.ValidationError("Give either customer_ids or a file, not both.")
        return attrs


class UploadRefusedLineSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="File line, or position in customer_ids.")
    customer_id = serializers.CharField()
    reason = serializers.CharField()


class SnapshotUploadSerializer(serializers.Serializer):
    segment = SegmentSerializer()
    stored = serializers.IntegerField(help_text="Members stored.")
    duplicates = serializers.IntegerField(help_text="Repeated ids, stored once.")
    unknown_count = serializers.IntegerField(help_text="Ids that are no known customer.")
    unknown = UploadRefusedLineSerializer(many=True, help_text="The first 1,000 of them.")
