"""Serializers of the customer-data API; they check shape only (house rule 9).

The bulk ingest items are validated by crm.services.imports, exactly as CSV rows are, so
an item with a bad value is refused on its own (by index) rather than failing the request.
A customer is read with its stored profile, metrics and labels, contact masked by role.
"""

from rest_framework import serializers

from crm.enums import Daypart, LifecycleStage, PointsReason, RfmGroup, ValueTier
from crm.models import Customer
from crm.services.imports.runs import MAX_BULK_ITEMS


class BulkIngestInputSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.JSONField(),
        max_length=MAX_BULK_ITEMS,
        help_text=(
            f"Up to {MAX_BULK_ITEMS:,} objects keyed by the CSV column names of the kind. "
            "Keys an item leaves out are not changed."
        ),
        error_messages={
            "max_length": "At most {max_length} items per request; send the rest in more requests."
        },
    )


class BulkIngestErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(source="position", help_text="Position in `items`, from 0.")
    reason = serializers.CharField()


class BulkIngestResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField(help_text="Already stored with the same values.")
    refused = serializers.IntegerField()
    errors = BulkIngestErrorSerializer(many=True)


# Customer read -------------------------------------------------------------------------


class UnknownAsNullChoiceField(serializers.ChoiceField):
    """A choice column where blank means unknown: answered as null, never as a value
    outside the documented choices."""

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, read_only=True, **kwargs)

    def to_representation(self, value):
        return super().to_representation(value) if value else None


class CustomerProfileSerializer(serializers.ModelSerializer):
    """One customer as support tools and the shop read it: the profile, the purchase
    metrics and the labels crm.services.metrics stores (as of its last recompute)."""

    phone = serializers.CharField(
        source="phone_shown", read_only=True, help_text="Masked without the PII permission."
    )
    email = serializers.CharField(
        source="email_shown", read_only=True, help_text="Masked without the PII permission."
    )
    consent = serializers.DictField(
        child=serializers.BooleanField(),
        read_only=True,
        help_text="Marketing consent per off-site channel code; a missing code means none.",
    )
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    value_tier = serializers.ChoiceField(choices=ValueTier.choices, read_only=True)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, read_only=True)
    usual_daypart = UnknownAsNullChoiceField(
        choices=Daypart.choices, help_text="null until the customer has a paid order."
    )
    rfm_group = UnknownAsNullChoiceField(
        choices=RfmGroup.choices, help_text="null until the customer has a paid order."
    )
    promotion_sensitivity = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        read_only=True,
        allow_null=True,
        help_text="Share of paid orders that used a coupon, 0 to 1; null without paid orders.",
    )

    class Meta:
        model = Customer
        fields = [
            "customer_id",
            "name",
            "phone",
            "email",
            "gender",
            "birth_date",
            "city",
            "region",
            "occupation",
            "is_member",
            "member_tier",
            "points",
            "registered_at",
            "acquisition_channel",
            "consent",
            "tags",
            "is_placeholder",
            "pii_erased_at",
            "first_order_at",
            "last_order_at",
            "order_count",
            "total_spent",
            "avg_order_value",
            "is_returning",
            "value_tier",
            "lifecycle_stage",
            "preferred_category",
            "promotion_sensitivity",
            "preferred_channel",
            "weekend_buyer",
            "usual_daypart",
            "rfm_recency",
            "rfm_frequency",
            "rfm_monetary",
            "rfm_group",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class NotFoundSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What was not found, for a person to read.")


class PointsEntrySerializer(serializers.Serializer):
    """One change to a customer's points balance."""

    change = serializers.IntegerField(help_text="Points added (negative: taken away).")
    balance = serializers.IntegerField(help_text="The balance after this change.")
    reason = serializers.ChoiceField(choices=PointsReason.choices)
    reference = serializers.CharField(
        help_text="What caused it: the coupon, the import job, or who adjusted it and why."
    )
    at = serializers.DateTimeField()


class PointsAdjustmentSerializer(serializers.Serializer):
    """A staff adjustment of a customer's points."""

    change = serializers.IntegerField(
        min_value=-1_000_000_000,
        max_value=1_000_000_000,
        help_text="Points to add; negative to take some away. Not 0.",
    )
    note = serializers.CharField(max_length=150, help_text="Why (kept in the ledger).")

    def validate_change(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("A change of 0 points changes nothing.")
        return value
