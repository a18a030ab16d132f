"""Coupon templates, campaigns, coupons and the rows the claim engine keeps (SPEC §3, §4).

Every counter the engine changes has a CHECK constraint that makes over-issue impossible
even if the code were wrong: the campaign's issued coupons against its stock and its spent
value against its budget, a customer's grants against the campaign limits (copied onto
the counter row so the database can check them), and one grant per idempotency key.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils.timezone import localtime

from campaigns.enums import (
    AmountDistribution,
    BatchState,
    CampaignStatus,
    CampaignType,
    CostBearer,
    CouponEventKind,
    CouponKind,
    CouponStatus,
    DeliveryState,
    EnvelopeKind,
    MessageReason,
    MessageStatus,
    Trigger,
)
from crm.core.models import TimeStampedModel
from crm.models import Channel, Customer
from segments.models import Segment


def _in_choices(field: str, choices: type[models.TextChoices], name: str):
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


class CouponTemplate(TimeStampedModel):
    """A benefit: kind, face value, threshold, restrictions and use validity."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=CouponKind.choices)
    # cash/gift: money; percent: 1-100 (% off); points: number of points.
    face_value = models.DecimalField(max_digits=12, decimal_places=2)
    # Percent coupons only: the largest discount one coupon can give; it is also what one
    # coupon costs the campaign budget (a percent has no face value in money).
    max_discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # Minimum order amount to redeem; 0 means none.
    threshold = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    # Restrictions: an empty list means no restriction on that dimension.
    categories = models.JSONField(default=list, blank=True)
    skus = models.JSONField(default=list, blank=True)
    stores = models.JSONField(default=list, blank=True)
    cities = models.JSONField(default=list, blank=True)
    # Use validity: a fixed window, or valid_days after the claim (exactly one of the two).
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    valid_days = models.PositiveIntegerField(null=True, blank=True)
    cost_bearer = models.CharField(
        max_length=8, choices=CostBearer.choices, default=CostBearer.PLATFORM
    )
    # Cross-industry cooperation: the coupons' codes come from this partner's platform, in
    # real time (settings.PARTNER_PLATFORMS; campaigns/services/partner_codes.py).
    partner = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "partner"},
        help_text="A partner channel whose platform issues these coupons' codes.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["code"]
        constraints = [
            _in_choices("kind", CouponKind, "template_kind_valid"),
            _in_choices("cost_bearer", CostBearer, "template_cost_bearer_valid"),
            models.CheckConstraint(condition=Q(face_value__gt=0), name="template_face_value_gt_0"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="template_threshold_gte_0"),
            models.CheckConstraint(
                condition=~Q(kind="percent") | Q(face_value__lte=100, max_discount__gt=0),
                name="template_percent_is_capped",
            ),
            models.CheckConstraint(
                condition=(
                    Q(valid_days__isnull=True, valid_from__isnull=False, valid_until__isnull=False)
                    & Q(valid_from__lt=F("valid_until"))
                )
                | Q(valid_days__gt=0, valid_from__isnull=True, valid_until__isnull=True),
                name="template_one_validity",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def budget_cost(self) -> Decimal:
        """What one coupon of this template takes from a campaign budget."""
        return self.max_discount if self.kind == CouponKind.PERCENT else self.face_value


# The distributions a random envelope draws with (AmountDistribution.NONE is for the others).
DRAWN = [AmountDistribution.UNIFORM, AmountDistribution.MOSTLY_LOW]


class Campaign(TimeStampedModel):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    business_line = models.CharField(max_length=60)
    campaign_type = models.CharField(
        max_length=16, choices=CampaignType.choices, default=CampaignType.TARGETED
    )
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="campaigns")
    # Cities the campaign serves; empty means everywhere.
    cities = models.JSONField(default=list, blank=True)
    claim_starts_at = models.DateTimeField()
    claim_ends_at = models.DateTimeField()
    channels = models.ManyToManyField(Channel, blank=True, related_name="campaigns")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SELF)
    # Grants one customer may receive per calendar day (operator's zone) / in all.
    daily_limit_per_customer = models.PositiveIntegerField(default=1)
    limit_per_customer = models.PositiveIntegerField(default=1)
    # Total coupons the campaign may issue, and their total value (template.budget_cost).
    stock = models.PositiveIntegerField()
    budget = models.DecimalField(max_digits=14, decimal_places=2)
    # Written only by the claim engine, with conditional F() updates under the row lock.
    issued_count = models.PositiveIntegerField(default=0)
    spent = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    # Member incentives: the audience limited to loyalty members, or to these tiers (a tier
    # implies a member); checked by the claim engine with the segment.
    members_only = models.BooleanField(default=False)
    member_tiers = models.JSONField(default=list, blank=True)
    # Share of the audience deliberately not treated, for lift (0 = no holdout).
    holdout_share = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0"))
    # Red envelopes (envelope_kind; SPEC §4): the amount of each grant, decided by the
    # engine; the campaign's one cash template gives the full amount of a shared envelope.
    envelope_kind = models.CharField(
        max_length=8, choices=EnvelopeKind.choices, blank=True, default=EnvelopeKind.NONE
    )
    decay_ratio = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    decay_floor = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    random_min = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    random_max = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    random_distribution = models.CharField(
        max_length=10, choices=AmountDistribution.choices, blank=True, default=""
    )
    # When the audience record was taken (the campaign started running); None before.
    audience_recorded_at = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-claim_starts_at", "code"]
        indexes = [models.Index(fields=["status", "claim_starts_at"])]
        constraints = [
            _in_choices("status", CampaignStatus, "campaign_status_valid"),
            _in_choices("trigger", Trigger, "campaign_trigger_valid"),
            _in_choices("envelope_kind", EnvelopeKind, "campaign_envelope_kind_valid"),
            models.CheckConstraint(
                condition=~Q(envelope_kind="shared")
                | Q(decay_ratio__gt=0, decay_ratio__lte=1, decay_floor__gt=0),
                name="campaign_shared_envelope_configured",
            ),
            models.CheckConstraint(
                condition=~Q(envelope_kind="random")
                | Q(random_min__gt=0, random_max__gte=F("random_min"))
                & Q(
                    random_distribution__in=[
                        AmountDistribution.UNIFORM,
                        AmountDistribution.MOSTLY_LOW,
                    ]
                ),
                name="campaign_random_envelope_configured",
            ),
            _in_choices("campaign_type", CampaignType, "campaign_type_valid"),
            models.CheckConstraint(
                condition=Q(claim_starts_at__lt=F("claim_ends_at")), name="campaign_window_ordered"
            ),
            models.CheckConstraint(
                condition=Q(issued_count__lte=F("stock")), name="campaign_issued_within_stock"
            ),
            models.CheckConstraint(
                condition=Q(spent__gte=0) & Q(spent__lte=F("budget")),
                name="campaign_spent_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(daily_limit_per_customer__gt=0, limit_per_customer__gt=0),
                name="campaign_limits_positive",
            ),
            models.CheckConstraint(
                condition=Q(holdout_share__gte=0, holdout_share__lt=1),
                name="campaign_holdout_share_range",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CampaignResource(models.Model):
    """One template a grant of the campaign hands out, `quantity` coupons of it."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="resources")
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "template"], name="resource_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="resource_quantity_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.quantity} x {self.template_id}"


class Grant(models.Model):
    """One successful claim (or push) of a campaign by a customer."""

    # No index of its own: the unique (campaign, idempotency_key) and (campaign, granted_at)
    # indexes start with it. A third one made the engine's cached plan for the key look-up
    # pick it on a small table and keep filtering the campaign's grants as they grew.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="grants", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="grants")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    idempotency_key = models.CharField(max_length=100)
    # sha256 of the claim payload: the same key with another payload is refused.
    request_fingerprint = models.CharField(max_length=64)
    granted_at = models.DateTimeField()
    coupon_count = models.PositiveIntegerField()
    cost = models.DecimalField(max_digits=14, decimal_places=2)
    # When a push grant last moved to the channel whose message was sent first (SPEC §4):
    # the reports' hourly facts of its campaign built before then hold the old channel.
    attributed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "idempotency_key"], name="grant_idempotency_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "granted_at"]),
            models.Index(
                fields=["attributed_at"],
                name="grant_attributed",
                condition=Q(attributed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        # The operator's local time, as every page shows moments (the admin lists grants).
        return f"{self.campaign_id}:{self.customer_id}@{localtime(self.granted_at):%Y-%m-%d %H:%M}"


class AudienceMember(models.Model):
    """A customer of a campaign's audience record (SPEC §4): the segment's members when the
    campaign started running, and whoever joined the segment later and claimed. Each is
    treated or in the holdout, by the engine's stable hash, and never changes group: the
    report compares the two groups as they were assigned."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="audience", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    treated = models.BooleanField(help_text="False: in the holdout group.")
    joined_at = models.DateTimeField()
    # True: a member when the campaign started; False: added by a later claim.
    at_start = models.BooleanField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="audience_member_once_per_campaign"
            ),
        ]
        # The reports' members who joined since their hourly facts.
        indexes = [models.Index(fields=["campaign", "joined_at"], name="audience_member_joined")]

    def __str__(self) -> str:
        group = "treated" if self.treated else "holdout"
        return f"{self.campaign_id}:{self.customer_id} ({group})"


class Coupon(TimeStampedModel):
    code = models.CharField(max_length=24, unique=True)
    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="coupons")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="coupons")
    # Indexed by (customer, status) and (customer, template, issued_at) below.
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="coupons", db_index=False
    )
    status = models.CharField(
        max_length=8, choices=CouponStatus.choices, default=CouponStatus.UNUSED
    )
    # Granted through `trigger=self`: exempt from the anti-harassment rules (SPEC §4).
    self_claimed = models.BooleanField(default=False)
    issued_at = models.DateTimeField()
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    # Copied from the template at grant time: later template edits never change a coupon.
    face_value = models.DecimalField(max_digits=12, decimal_places=2)
    threshold = models.DecimalField(max_digits=12, decimal_places=2)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # A partner's coupon: the code its platform issued (what the customer sees and redeems
    # there), the calls made for it and the last one's error.
    # Database defaults too: bulk loaders and the benchmarks write coupons in SQL.
    partner_code = models.CharField(max_length=64, blank=True, default="", db_default="")
    partner_attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    partner_error = models.CharField(max_length=300, blank=True, default="", db_default="")

    class Meta:
        ordering = ["-issued_at"]
        indexes = [
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["customer", "template", "issued_at"]),
            models.Index(fields=["status", "valid_until"]),
            # The marketer's coupon list, newest first (campaigns/coupon_lists.py).
            models.Index(fields=["issued_at", "id"], name="coupon_issued_at"),
            # The partner-code requests' look-up of what waits.
            models.Index(
                fields=["issued_at"], name="coupon_pending", condition=Q(status="pending")
            ),
        ]
        constraints = [
            _in_choices("status", CouponStatus, "coupon_status_valid"),
            models.UniqueConstraint(
                fields=["template", "partner_code"],
                condition=~Q(partner_code=""),
                name="coupon_partner_code_unique",
            ),
            models.CheckConstraint(
                condition=Q(valid_from__lt=F("valid_until")), name="coupon_validity_ordered"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def shown_code(self) -> str:
        """The code the customer holds: the partner's for a partner's coupon."""
        return self.partner_code or self.code


class CustomerCampaignCounter(models.Model):
    """A customer's grants in one campaign, all time and on `day` (operator's zone).

    The limits are copied from the campaign when the row is written, so CHECK constraints
    can hold the limits in the database itself.
    """

    # Indexed by the unique (campaign, customer) constraint.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    total_grants = models.PositiveIntegerField(default=0)
    limit_total = models.PositiveIntegerField()
    day = models.DateField()
    day_grants = models.PositiveIntegerField(default=0)
    limit_daily = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="counter_unique"),
            models.CheckConstraint(
                condition=Q(total_grants__lte=F("limit_total")), name="counter_within_limit"
            ),
            models.CheckConstraint(
                condition=Q(day_grants__lte=F("limit_daily")), name="counter_within_daily_limit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.customer_id} {self.total_grants}"


class CustomerClaimLock(models.Model):
    """One row per customer who ever claimed: the per-customer lock of the claim engine.

    Grants of different campaigns to the same customer serialise on this row, which makes
    the anti-harassment cap and interval (counted from Coupon rows) hold under concurrency.
    The cap is not a stored counter with a CHECK because "unused" also ends by the clock
    (a coupon past valid_until no longer counts before the expiry task marks it).
    """

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )

    def __str__(self) -> str:
        return str(self.customer_id)


class HarassmentSettings(TimeStampedModel):
    """Global anti-harassment rules (one row; edits are audited)."""

    max_unused_coupons = models.PositiveIntegerField(
        default=10,
        help_text="A customer may hold at most this many unused CRM-issued coupons.",
    )
    min_hours_between_same_template = models.PositiveIntegerField(
        default=24,
        help_text="The same coupon template is granted to a customer at most once per this "
        "many hours. Self claims are exempt from both rules.",
    )

    class Meta:
        verbose_name = "anti-harassment settings"
        verbose_name_plural = "anti-harassment settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="harassment_settings_single_row"),
            models.CheckConstraint(
                condition=Q(max_unused_coupons__gt=0), name="harassment_cap_positive"
            ),
        ]

    def __str__(self) -> str:
        return "Anti-harassment settings"


class Redemption(models.Model):
    """A coupon used on an order; reversed (not deleted) when the order is refunded."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    order_id = models.CharField(max_length=64)
    order_amount = models.DecimalField(max_digits=12, decimal_places=2)
    discount = models.DecimalField(max_digits=12, decimal_places=2)
    store = models.CharField(max_length=60, blank=True)
    city = models.CharField(max_length=60, blank=True)
    redeemed_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A coupon has at most one live redemption, so also at most one live redemption
            # per (code, order): what makes redemption idempotent. Reversed ones are history:
            # a coupon a refund restored may be redeemed again, even on the same order (a
            # unique (coupon, order_id) over every row refused that with a 500).
            models.UniqueConstraint(
                fields=["coupon"],
                condition=Q(reversed_at__isnull=True),
                name="redemption_one_live_per_coupon",
            ),
            models.CheckConstraint(condition=Q(discount__gte=0), name="redemption_discount_gte_0"),
        ]
        # A refund reverses the redemptions of its order: looked up by order_id alone.
        indexes = [
            models.Index(fields=["order_id"], name="redemption_order_id"),
            # The marketer's redemption list, newest first (campaigns/coupon_lists.py).
            models.Index(fields=["redeemed_at", "id"], name="redemption_redeemed_at"),
            # The reports take reversed redemptions back from their gross hourly facts.
            models.Index(
                fields=["reversed_at"],
                name="redemption_reversed",
                condition=Q(reversed_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id} on {self.order_id}"


class CouponEvent(models.Model):
    """The ledger reports read: every grant, refusal, redemption, restore, expiry, revoke,
    each with the channel code it happened through."""

    kind = models.CharField(max_length=10, choices=CouponEventKind.choices)
    at = models.DateTimeField()
    # Indexed by (campaign, kind, at) and (customer, at) below.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    coupon = models.ForeignKey(
        Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    channel_code = models.CharField(max_length=40, blank=True)
    # Refusals: the SPEC §5 reason; redemptions: the order id.
    reason = models.CharField(max_length=40, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["campaign", "kind", "at"]),
            models.Index(fields=["customer", "at"]),
        ]
        constraints = [_in_choices("kind", CouponEventKind, "coupon_event_kind_valid")]

    def __str__(self) -> str:
        return f"{self.kind} {self.campaign_id}:{self.customer_id}"


class DeliveryRun(models.Model):
    """A scheduled push of a campaign to its recorded audience (SPEC §4, §5 deliveries).

    The audience members at the start are cut into batches (DeliveryBatch, the per-batch
    ledger); each batch grants through the claim engine's batch entry and queues its
    messages in one transaction, so a batch is done entirely or not at all.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="push")
    state = models.CharField(
        max_length=8, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    # The audience at the start, holdout included.
    total = models.PositiveIntegerField(default=0)
    batch_size = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [_in_choices("state", DeliveryState, "delivery_run_state_valid")]

    def __str__(self) -> str:
        return f"push of {self.campaign_id} ({self.state})"


class DeliveryBatch(models.Model):
    """One batch of a push: the audience members (at the start) whose customer keys lie in
    [first_customer_id, last_customer_id]. Its counts are written by the transaction that
    grants it; `enqueued_at` is when a task for it was last sent (the sweeper re-sends
    batches left pending long after that)."""

    run = models.ForeignKey(DeliveryRun, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    first_customer_id = models.BigIntegerField()
    last_customer_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=BatchState.choices, default=BatchState.PENDING)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # How many times a task for it was sent (the sweeper's re-sends included).
    sends = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    granted = models.PositiveIntegerField(default=0)
    # Claim refusal reason (holdout included) -> customers.
    skipped = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The Celery worker that granted it (name@host), for operations.
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="delivery_batch_number_unique"),
            _in_choices("state", BatchState, "delivery_batch_state_valid"),
            models.CheckConstraint(
                condition=Q(processed__lte=F("size")) & Q(granted__lte=F("processed")),
                name="delivery_batch_counts_within_size",
            ),
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of run {self.run_id} ({self.state})"


class Message(models.Model):
    """One message to a customer through an off-site channel (SPEC §4): sent, failed,
    suppressed (no consent, daily cap) or deferred (quiet hours), with its times."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    run = models.ForeignKey(
        DeliveryRun, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="messages", db_index=False
    )
    # Indexed by (customer, channel, due_at) below: an index on the channel alone was
    # picked for the daily cap's count with the push's messages not yet in the statistics,
    # and read every message of the channel for each customer (1.6 ms each, 0.8 s a batch).
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="+", db_index=False)
    status = models.CharField(max_length=10, choices=MessageStatus.choices)
    reason = models.CharField(max_length=20, choices=MessageReason.choices, blank=True)
    created_at = models.DateTimeField()
    # When it may be sent: created_at, or the end of the quiet hours it fell into.
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The last delivery error (webhook status or exception), for support.
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One message per customer and channel in a push: a batch granted twice after a
            # crash cannot message anyone twice.
            models.UniqueConstraint(
                fields=["run", "customer", "channel"], name="message_once_per_push"
            ),
            _in_choices("status", MessageStatus, "message_status_valid"),
            _in_choices("reason", MessageReason, "message_reason_valid"),
        ]
        indexes = [
            models.Index(fields=["campaign", "channel", "status"], name="message_campaign_status"),
            models.Index(fields=["customer", "created_at"], name="message_customer_created"),
            # The daily cap's count and the attribution's first sent channel, per customer.
            models.Index(fields=["customer", "channel", "due_at"], name="message_customer_channel"),
            # The reports' messages settled since their hourly facts (a message is sent or
            # fails once: the other time stays empty).
            models.Index(
                F("campaign"), Coalesce("sent_at", "failed_at"), name="message_campaign_settled"
            ),
            # The sender's look-up of what is due.
            models.Index(
                fields=["due_at"],
                name="message_due",
                condition=Q(status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} to {self.customer_id}: {self.status}"
