"""Serializers of the campaigns API; they check shape and type only (house rule 9).

Payloads use external codes (campaign and template `code`, customer `customer_id`, channel
`code`); internal primary keys appear only for the audience segment, which has no code
(SPEC §1: segments are named, not coded), so campaigns refer to it by id.
Business rules are decided by campaigns.services and come back as 409 refusals.
"""

from decimal import Decimal

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from campaigns.enums import (
    CLAIM_TRIGGERS,
    AmountDistribution,
    CampaignStatus,
    CampaignType,
    ClaimRefusalReason,
    CostBearer,
    CouponKind,
    CouponStatus,
    DeliveryState,
    EnvelopeKind,
    MessageReason,
    MessageStatus,
    RedemptionRefusalReason,
    Trigger,
)
from campaigns.models import Campaign, CampaignResource, CouponTemplate, Redemption
from crm.models import Channel, Customer
from segments.models import Segment


class CodeRelatedField(serializers.SlugRelatedField):
    """A row named by its external code; a code with a NUL byte is refused before the look-up
    (PostgreSQL text cannot hold one: the query itself failed, a 500)."""

    default_error_messages = {
        **serializers.SlugRelatedField.default_error_messages,
        # The same words as DRF's CharField, so every field refuses NUL alike.
        "null_characters": ProhibitNullCharactersValidator.message,
    }

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)


def _code_field(model_label: str, queryset, slug_field: str = "code", **kwargs):
    return CodeRelatedField(
        slug_field=slug_field,
        queryset=queryset,
        error_messages={
            "does_not_exist": f"No {model_label} with {slug_field} {{value}}.",
            "invalid": f"Give the {model_label}'s {slug_field} as a string.",
        },
        **kwargs,
    )


def _names(choices) -> str:
    return ", ".join(value for value, _ in choices)


# Refusals (409) -------------------------------------------------------------------------


class ClaimRefusalSerializer(serializers.Serializer):
    reason = serializers.CharField(
        help_text="One of: "
        + _names(ClaimRefusalReason.choices)
        + "; or idempotency_key_reused when the key was used for another claim."
    )
    detail = serializers.CharField(help_text="What was refused and why, for a person to read.")


class RedemptionRefusalSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text="One of: " + _names(RedemptionRefusalReason.choices))
    detail = serializers.CharField(help_text="What was refused and why, for a person to read.")


class CampaignActionRefusalSerializer(serializers.Serializer):
    reason = serializers.CharField(
        help_text="launch_refused (scheduling validation), invalid_status (the action is not "
        "possible from the current status), not_editable / edit_refused (a change a live "
        "campaign does not allow), template_in_use."
    )
    detail = serializers.CharField(help_text="Every reason, joined with '; '.")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Every problem found, one per item."
    )


# Claims ---------------------------------------------------------------------------------


class ClaimInputSerializer(serializers.Serializer):
    # Codes, not looked up here: the claim engine resolves them in its one statement and
    # names the field when a code matches nothing (400, like a failed lookup would).
    campaign = serializers.CharField(max_length=40, help_text="The campaign's code.")
    customer = serializers.CharField(max_length=64, help_text="The customer's customer_id.")
    channel = serializers.CharField(max_length=40, help_text="The channel's code.")
    trigger = serializers.ChoiceField(
        choices=CLAIM_TRIGGERS,
        help_text="What the customer did. Birthday and first-order gifts are granted by OpsCRM "
        "itself.",
    )
    idempotency_key = serializers.CharField(
        max_length=100,
        help_text="Unique per claim attempt: a retry with the same key returns the first "
        "result (200) and never grants twice.",
    )


class ClaimedCouponSerializer(serializers.Serializer):
    code = serializers.CharField(
        source="shown_code", help_text="The coupon's code (a partner's, for its coupons)."
    )
    template = serializers.CharField(source="template.code")
    kind = serializers.ChoiceField(source="template.kind", choices=CouponKind.choices)
    face_value = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="cash/gift: money off; percent: % off; points: points credited.",
    )
    max_discount = serializers.DecimalField(
        source="template.max_discount",
        max_digits=12,
        decimal_places=2,
        allow_null=True,
        help_text="Percent coupons: the largest discount; null otherwise.",
    )
    threshold = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Minimum order amount; 0 means none."
    )
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=CouponStatus.choices)


class ClaimSerializer(serializers.Serializer):
    """The first coupon of the grant at the top level, every coupon under `coupons`."""

    code = serializers.CharField(source="first.shown_code")
    kind = serializers.ChoiceField(source="first.template.kind", choices=CouponKind.choices)
    face_value = serializers.DecimalField(
        source="first.face_value", max_digits=12, decimal_places=2
    )
    threshold = serializers.DecimalField(source="first.threshold", max_digits=12, decimal_places=2)
    valid_from = serializers.DateTimeField(source="first.valid_from")
    valid_until = serializers.DateTimeField(source="first.valid_until")
    campaign = serializers.CharField()
    customer = serializers.CharField()
    channel = serializers.CharField()
    trigger = serializers.CharField(source="grant.trigger")
    granted_at = serializers.DateTimeField(source="grant.granted_at")
    coupons = ClaimedCouponSerializer(many=True)


# Redemptions ----------------------------------------------------------------------------


class RedemptionItemInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    category = serializers.CharField(max_length=60, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)


class RedemptionInputSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40, help_text="The coupon code.")
    customer = _code_field("customer", Customer.objects.all(), slug_field="customer_id")
    order_id = serializers.CharField(max_length=64)
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        # A 0.00 order used the coupon up for a 0.00 discount.
        min_value=Decimal("0.01"),
        error_messages={"min_value": "The order amount must be above 0."},
        help_text="Order amount before discount; above 0.",
    )
    items = RedemptionItemInputSerializer(
        many=True,
        required=False,
        default=list,
        help_text="The order lines; needed when the coupon is restricted to categories or SKUs.",
    )
    store = serializers.CharField(max_length=60, allow_blank=True, default="")
    city = serializers.CharField(max_length=60, allow_blank=True, default="")


class RedemptionSerializer(serializers.ModelSerializer):
    code = serializers.CharField(source="coupon.code")
    customer = serializers.CharField(source="customer.customer_id")
    amount = serializers.DecimalField(source="order_amount", max_digits=12, decimal_places=2)

    class Meta:
        model = Redemption
        fields = ("code", "customer", "order_id", "amount", "discount", "store", "city")
        read_only_fields = fields


# Coupon templates -----------------------------------------------------------------------


class CouponTemplateInputSerializer(serializers.Serializer):
    code = serializers.SlugField(max_length=40)
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=CouponKind.choices)
    face_value = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="cash/gift: money off; percent: % off (1-100); points: points credited.",
    )
    max_discount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        required=False,
        allow_null=True,
        default=None,
        help_text="Percent coupons only (required there): the largest discount.",
    )
    threshold = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        # The model's Decimal, not a string: a default skips to_internal_value, and the
        # string "0" reached the service's comparisons (TypeError, a 500).
        default=CouponTemplate._meta.get_field("threshold").default,
        help_text="Minimum order amount; 0 (the default) means none.",
    )
    categories = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True), required=False, default=list
    )
    skus = serializers.ListField(
        child=serializers.CharField(max_length=64, allow_blank=True), required=False, default=list
    )
    stores = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True), required=False, default=list
    )
    cities = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True), required=False, default=list
    )
    valid_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    valid_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    valid_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Relative validity in days after the claim; or give valid_from/valid_until.",
    )
    cost_bearer = serializers.ChoiceField(choices=CostBearer.choices, default=CostBearer.PLATFORM)
    partner = _code_field(
        "partner channel",
        Channel.objects.filter(kind="partner"),
        required=False,
        allow_null=True,
        default=None,
        help_text="A partner channel's code: its platform issues these coupons' codes.",
    )


class CouponTemplateSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=CouponKind.choices)
    cost_bearer = serializers.ChoiceField(choices=CostBearer.choices)
    partner = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="The partner channel whose platform issues the codes; null for our own.",
    )
    categories = serializers.ListField(child=serializers.CharField())
    skus = serializers.ListField(child=serializers.CharField())
    stores = serializers.ListField(child=serializers.CharField())
    cities = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = CouponTemplate
        fields = (
            "code",
            "name",
            "kind",
            "face_value",
            "max_discount",
            "threshold",
            "categories",
            "skus",
            "stores",
            "cities",
            "valid_from",
            "valid_until",
            "valid_days",
            "cost_bearer",
            "partner",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class CouponTemplateSavedSerializer(CouponTemplateSerializer):
    """The template as saved, with what to check before a campaign hands it out."""

    warnings = serializers.ListField(
        child=serializers.CharField(),
        help_text="Restriction values no order holds yet (a label typed for a code, or a new "
        "SKU): the template is saved, but its coupon fits no order until one holds them. "
        "Empty when every value is found in the orders.",
    )

    class Meta(CouponTemplateSerializer.Meta):
        fields = (*CouponTemplateSerializer.Meta.fields, "warnings")
        read_only_fields = fields


# Campaigns ------------------------------------------------------------------------------


class CampaignResourceInputSerializer(serializers.Serializer):
    template = _code_field("coupon template", CouponTemplate.objects.all())
    quantity = serializers.IntegerField(min_value=1, default=1)


class CampaignInputSerializer(serializers.Serializer):
    code = serializers.SlugField(
        max_length=40, help_text="Stable id the shop claims with; never changes."
    )
    name = serializers.CharField(max_length=120)
    business_line = serializers.CharField(max_length=60)
    campaign_type = serializers.ChoiceField(
        choices=CampaignType.choices, default=CampaignType.TARGETED
    )
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(),
        help_text="Id of the audience segment (segments have names, not codes).",
        error_messages={"does_not_exist": "No segment with id {pk_value}."},
    )
    cities = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True),
        required=False,
        default=list,
        help_text="Cities the campaign serves; empty means everywhere.",
    )
    claim_starts_at = serializers.DateTimeField()
    claim_ends_at = serializers.DateTimeField()
    channels = _code_field("channel", Channel.objects.all(), many=True, required=False)
    trigger = serializers.ChoiceField(choices=Trigger.choices, default=Trigger.SELF)
    daily_limit_per_customer = serializers.IntegerField(min_value=1, default=1)
    limit_per_customer = serializers.IntegerField(min_value=1, default=1)
    stock = serializers.IntegerField(min_value=1, help_text="Total coupons the campaign issues.")
    budget = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Total value the campaign may give (face value; percent: the cap).",
    )
    holdout_share = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        min_value=0,
        max_value=Decimal("0.999"),
        # The model's Decimal default (see CouponTemplateInputSerializer.threshold).
        default=Campaign._meta.get_field("holdout_share").default,
        help_text="Share of the audience kept untreated for lift, from 0 to 0.999.",
    )
    members_only = serializers.BooleanField(
        required=False, default=False, help_text="Member incentive: only loyalty members."
    )
    member_tiers = serializers.ListField(
        child=serializers.CharField(max_length=40, allow_blank=True),
        required=False,
        default=list,
        help_text="Member incentive: only members of these tiers (e.g. gold); empty: any.",
    )
    envelope_kind = serializers.ChoiceField(
        choices=EnvelopeKind.choices,
        required=False,
        default=EnvelopeKind.NONE,
        help_text="Red envelopes: shared (repeated claims decay) or random (amount drawn "
        "per grant); blank for fixed coupons.",
    )
    decay_ratio = serializers.DecimalField(
        max_digits=4, decimal_places=3, required=False, allow_null=True, default=None,
        help_text="Shared envelope: the 2nd claim gets the amount times this (0 to 1).",
    )  # fmt: skip
    decay_floor = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True, default=None,
        help_text="Shared envelope: the amount of the 3rd and later claims.",
    )  # fmt: skip
    random_min = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True, default=None,
        help_text="Random envelope: the smallest amount.",
    )  # fmt: skip
    random_max = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, allow_null=True, default=None,
        help_text="Random envelope: the largest amount.",
    )  # fmt: skip
    random_distribution = serializers.ChoiceField(
        choices=AmountDistribution.choices, required=False, allow_blank=True, default="",
        help_text="Random envelope: uniform, or mostly_low (small amounts often).",
    )  # fmt: skip
    resources = CampaignResourceInputSerializer(
        many=True, required=False, help_text="The coupons one grant hands out."
    )


class CampaignResourceSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template.code")
    template_name = serializers.CharField(source="template.name")
    kind = serializers.ChoiceField(source="template.kind", choices=CouponKind.choices)

    class Meta:
        model = CampaignResource
        fields = ("template", "template_name", "kind", "quantity")
        read_only_fields = fields


class CampaignSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    campaign_type = serializers.ChoiceField(choices=CampaignType.choices)
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    segment = serializers.IntegerField(source="segment_id")
    segment_name = serializers.CharField(source="segment.name")
    cities = serializers.ListField(child=serializers.CharField())
    channels = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    resources = CampaignResourceSerializer(many=True, read_only=True)
    stock_left = serializers.SerializerMethodField()
    budget_left = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = (
            "code",
            "name",
            "status",
            "business_line",
            "campaign_type",
            "segment",
            "segment_name",
            "cities",
            "claim_starts_at",
            "claim_ends_at",
            "channels",
            "trigger",
            "daily_limit_per_customer",
            "limit_per_customer",
            "stock",
            "issued_count",
            "stock_left",
            "budget",
            "spent",
            "budget_left",
            "holdout_share",
            "members_only",
            "member_tiers",
            "envelope_kind",
            "decay_ratio",
            "decay_floor",
            "random_min",
            "random_max",
            "random_distribution",
            # When the audience record was taken (SPEC §4); null until the campaign starts.
            "audience_recorded_at",
            "resources",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.INT)
    def get_stock_left(self, campaign: Campaign) -> int:
        return campaign.stock - campaign.issued_count

    @extend_schema_field(serializers.DecimalField(max_digits=14, decimal_places=2))
    def get_budget_left(self, campaign: Campaign) -> str:
        return f"{campaign.budget - campaign.spent:.2f}"


# A customer's coupons -------------------------------------------------------------------


class CustomerCouponSerializer(serializers.Serializer):
    """A coupon as support tools and the shop's "my coupons" page list it."""

    code = serializers.CharField(
        source="shown_code", help_text="The coupon's code (a partner's, for its coupons)."
    )
    campaign = serializers.CharField(source="campaign.code", help_text="The campaign's code.")
    template = serializers.CharField(
        source="template.code", help_text="The coupon template's code."
    )
    status = serializers.ChoiceField(choices=CouponStatus.choices)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField()
    channel = serializers.CharField(
        source="grant.channel.code",
        help_text="The channel code its grant is recorded with: the claim's channel, or for a "
        "push the first of the campaign's channels that reached the customer.",
    )


class MessageCountsSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    suppressed = serializers.IntegerField(help_text="No consent, or over the daily cap.")
    deferred = serializers.IntegerField(help_text="Waiting out the channel's quiet hours.")


class DeliveryRunSerializer(serializers.Serializer):
    """A push run's progress: its batches' counts and its messages."""

    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=DeliveryState.choices)
    total = serializers.IntegerField(help_text="The audience at the start, holdout included.")
    processed = serializers.IntegerField()
    granted = serializers.IntegerField()
    skipped = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Customers not granted, by reason: holdout or a claim refusal reason.",
    )
    messages = serializers.DictField(
        child=MessageCountsSerializer(), help_text="Per channel code, messages by status."
    )
    suppressed_by_reason = serializers.DictField(
        child=serializers.IntegerField(), help_text="no_consent, daily_cap."
    )
    deferred_by_reason = serializers.DictField(
        child=serializers.IntegerField(), help_text="quiet_hours."
    )
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CustomerMessageSerializer(serializers.Serializer):
    """A message to a customer, for support tools and the shop."""

    campaign = serializers.CharField(source="campaign.code", help_text="The campaign's code.")
    channel = serializers.CharField(source="channel.code", help_text="The channel's code.")
    status = serializers.ChoiceField(choices=MessageStatus.choices)
    reason = serializers.ChoiceField(
        choices=MessageReason.choices,
        help_text="Why it was suppressed or deferred; blank otherwise.",
    )
    created_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(help_text="When it may be sent (quiet hours defer it).")
    sent_at = serializers.DateTimeField(allow_null=True)
