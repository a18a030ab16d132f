"""Customer data (SPEC §1): customers, identities, orders, behaviour, channels, tags.

Derived metrics (purchase metrics, labels, lifecycle stage, preferences, RFM) are stored on
Customer as plain columns so segment rules compile to plain lookups; they are written only by
crm.services.metrics, set-based, never by save().
"""

from decimal import Decimal

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q

from crm.core.models import TimeStampedModel
from crm.enums import (
    ChannelKind,
    Daypart,
    EventKind,
    Gender,
    LifecycleStage,
    OrderStatus,
    PointsReason,
    RfmGroup,
    ValueTier,
)
from crm.querysets import EventQuerySet, OrderQuerySet


def _choices_check(field: str, choices: type[models.TextChoices], name: str):
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


class Channel(TimeStampedModel):
    """A marketing touchpoint; its code is what every grant, claim and message records."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    # Off-site sending rules (SPEC §4): at most this many messages per customer per day of
    # the operator's calendar (blank: no cap), and quiet hours in the operator's time zone
    # during which messages wait (deferred) until the end; start after end spans midnight.
    daily_message_cap = models.PositiveIntegerField(null=True, blank=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            _choices_check("kind", ChannelKind, "channel_kind_valid"),
            models.CheckConstraint(
                condition=Q(quiet_hours_start__isnull=True, quiet_hours_end__isnull=True)
                | Q(quiet_hours_start__isnull=False, quiet_hours_end__isnull=False),
                name="channel_quiet_hours_both_or_neither",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class Tag(TimeStampedModel):
    """A manual tag marketers put on customers (e.g. `vip`)."""

    name = models.CharField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(TimeStampedModel):
    customer_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=120, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    gender = models.CharField(max_length=6, choices=Gender.choices, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    city = models.CharField(max_length=60, blank=True)
    region = models.CharField(max_length=60, blank=True)
    occupation = models.CharField(max_length=60, blank=True)
    is_member = models.BooleanField(default=False)
    member_tier = models.CharField(max_length=20, blank=True)
    points = models.PositiveIntegerField(default=0)
    registered_at = models.DateTimeField(null=True, blank=True)
    acquisition_channel = models.CharField(max_length=40, blank=True)
    # Marketing consent per off-site channel code, e.g. {"sms": true, "app_push": false};
    # a missing code means no consent.
    consent = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="customers")
    attributes = models.JSONField(default=dict, blank=True)
    # True while we only know the customer from an order, event or identity reference.
    is_placeholder = models.BooleanField(default=False)
    pii_erased_at = models.DateTimeField(null=True, blank=True)

    # Derived by crm.services.metrics (paid orders placed at or before metrics_as_of).
    first_order_at = models.DateTimeField(null=True, blank=True)
    last_order_at = models.DateTimeField(null=True, blank=True)
    order_count = models.PositiveIntegerField(default=0)
    total_spent = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    avg_order_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    is_returning = models.BooleanField(default=False)
    value_tier = models.CharField(max_length=8, choices=ValueTier.choices, default=ValueTier.NONE)
    lifecycle_stage = models.CharField(
        max_length=10, choices=LifecycleStage.choices, default=LifecycleStage.POTENTIAL
    )
    preferred_category = models.CharField(max_length=60, blank=True)
    # Share of paid orders that used a coupon, 0..1; NULL without paid orders.
    promotion_sensitivity = models.DecimalField(
        max_digits=5, decimal_places=4, null=True, blank=True
    )
    preferred_channel = models.CharField(max_length=40, blank=True)
    weekend_buyer = models.BooleanField(null=True, blank=True)
    usual_daypart = models.CharField(max_length=10, choices=Daypart.choices, blank=True)
    rfm_recency = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_frequency = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_monetary = models.PositiveSmallIntegerField(null=True, blank=True)
    rfm_group = models.CharField(max_length=20, choices=RfmGroup.choices, blank=True)

    class Meta:
        ordering = ["customer_id"]
        permissions = [("view_customer_pii", "Can see customers' phone and e-mail unmasked")]
        indexes = [
            models.Index(fields=["city"]),
            models.Index(fields=["lifecycle_stage"]),
            models.Index(fields=["rfm_group"]),
            models.Index(fields=["phone"]),
            models.Index(fields=["email"]),
            models.Index(fields=["last_order_at"]),
        ]
        constraints = [
            _choices_check("gender", Gender, "customer_gender_valid"),
            _choices_check("lifecycle_stage", LifecycleStage, "customer_stage_valid"),
            _choices_check("value_tier", ValueTier, "customer_value_tier_valid"),
            models.CheckConstraint(condition=Q(total_spent__gte=0), name="customer_spent_gte_0"),
            models.CheckConstraint(
                condition=Q(promotion_sensitivity__isnull=True)
                | Q(promotion_sensitivity__gte=0, promotion_sensitivity__lte=1),
                name="customer_promotion_sensitivity_share",
            ),
            models.CheckConstraint(
                condition=Q(rfm_recency__isnull=True) | Q(rfm_recency__range=(1, 5)),
                name="customer_rfm_recency_1_5",
            ),
            models.CheckConstraint(
                condition=Q(rfm_frequency__isnull=True) | Q(rfm_frequency__range=(1, 5)),
                name="customer_rfm_frequency_1_5",
            ),
            models.CheckConstraint(
                condition=Q(rfm_monetary__isnull=True) | Q(rfm_monetary__range=(1, 5)),
                name="customer_rfm_monetary_1_5",
            ),
        ]

    def __str__(self) -> str:
        return self.customer_id


class Identity(TimeStampedModel):
    """The same person seen in another system: (source, external_id) -> one customer."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    source = models.SlugField(max_length=40)
    external_id = models.CharField(max_length=128)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class Order(TimeStampedModel):
    order_id = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="orders")
    placed_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    # Where the order was placed (app, mini_program, web, store), not a marketing channel.
    channel = models.CharField(max_length=40, blank=True)
    store = models.CharField(max_length=60, blank=True)
    city = models.CharField(max_length=60, blank=True)
    status = models.CharField(max_length=10, choices=OrderStatus.choices, default=OrderStatus.PAID)
    coupon_code = models.CharField(max_length=40, blank=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at"]
        indexes = [
            models.Index(fields=["customer", "placed_at"]),
            models.Index(fields=["placed_at"]),
            # The orders written since the campaigns' hourly facts were built (a refund, an
            # order imported with an old date): the lift those facts hold misses them.
            models.Index(fields=["updated_at"], name="order_updated_at"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="order_amount_gte_0"),
            _choices_check("status", OrderStatus, "order_status_valid"),
        ]

    def __str__(self) -> str:
        return self.order_id


class OrderItem(TimeStampedModel):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(max_length=64)
    category = models.CharField(max_length=60, blank=True)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "sku"], name="order_item_unique_sku"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="order_item_quantity_gt_0"),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_item_unit_price_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}:{self.sku}"


class Referral(TimeStampedModel):
    """A customer who referred another (the referral-gift playbook, SPEC §4): recorded
    through the API and CSV imports; a referee is referred once, by the first referrer."""

    referrer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="referrals_made")
    referee = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="referred_by")
    referred_at = models.DateTimeField()

    class Meta:
        ordering = ["-referred_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(referrer=models.F("referee")), name="referral_not_oneself"
            )
        ]
        indexes = [models.Index(fields=["referred_at"], name="referral_referred_at")]

    def __str__(self) -> str:
        return f"{self.referrer_id} -> {self.referee_id}"


class PointsEntry(models.Model):
    """One change to a customer's points balance (SPEC §4, points rewards). Written by the
    database itself (trigger crm_customer_points_ledger, migration 0007) on every insert
    with points and every update that changes them, whatever the path; the services say why
    through crm.services.points.points_change (transaction-local settings)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="points_ledger")
    change = models.IntegerField()
    balance = models.PositiveIntegerField()
    reason = models.CharField(max_length=20, choices=PointsReason.choices)
    reference = models.CharField(max_length=200, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "points ledger entry"
        verbose_name_plural = "points ledger"
        constraints = [
            models.CheckConstraint(condition=~Q(change=0), name="points_entry_changes"),
        ]
        indexes = [models.Index(fields=["customer", "at"], name="points_entry_customer_at")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.change:+d} = {self.balance} ({self.reason})"


class BehaviourEvent(TimeStampedModel):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    channel = models.CharField(max_length=40, blank=True)
    sku = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=60, blank=True)
    payload = models.JSONField(default=dict, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["customer", "kind", "occurred_at"])]
        constraints = [
            _choices_check("kind", EventKind, "event_kind_valid"),
            # Events carry no external id; this natural key makes re-imports a no-op.
            models.UniqueConstraint(
                fields=["customer", "kind", "occurred_at", "channel", "sku"],
                name="event_natural_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}@{self.occurred_at:%Y-%m-%d %H:%M}"


class LifecycleSettings(TimeStampedModel):
    """Thresholds of the lifecycle rules and value tiers (one row, edited in the admin)."""

    churn_days = models.PositiveIntegerField(
        default=90, help_text="Churned: last paid order more than this many days ago."
    )
    silent_days = models.PositiveIntegerField(
        default=30, help_text="Silent: last paid order more than this many days ago."
    )
    new_days = models.PositiveIntegerField(
        default=30, help_text="New: first paid order within this many days."
    )
    mature_orders = models.PositiveIntegerField(
        default=5, help_text="Mature: at least this many paid orders within the window."
    )
    window_days = models.PositiveIntegerField(
        default=30, help_text="Window of the mature and declining rules, in days."
    )
    high_value_min_spent = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("2000"),
        help_text="High value: total spent at least this much.",
    )
    medium_value_min_spent = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        default=Decimal("500"),
        help_text="Medium value: total spent at least this much (below high).",
    )

    class Meta:
        verbose_name = "lifecycle settings"
        verbose_name_plural = "lifecycle settings"
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="lifecycle_settings_single_row"),
            models.CheckConstraint(
                condition=Q(silent_days__lt=models.F("churn_days")),
                name="lifecycle_silent_before_churn",
            ),
            models.CheckConstraint(
                condition=Q(
                    silent_days__gt=0, new_days__gt=0, window_days__gt=0, mature_orders__gt=0
                ),
                name="lifecycle_thresholds_positive",
            ),
            models.CheckConstraint(
                condition=Q(medium_value_min_spent__gt=0)
                & Q(high_value_min_spent__gt=models.F("medium_value_min_spent")),
                name="lifecycle_value_tiers_ordered",
            ),
        ]

    def __str__(self) -> str:
        return "Lifecycle settings"


class RfmBreakpoints(models.Model):
    """Quintile edges from the last full recompute; incremental runs score against them."""

    computed_at = models.DateTimeField()
    as_of = models.DateTimeField()
    # Four ascending edges each; score = 1 + number of edges the value exceeds.
    recency_edges = models.JSONField()
    frequency_edges = models.JSONField()
    monetary_edges = models.JSONField()

    class Meta:
        ordering = ["-computed_at"]
        verbose_name_plural = "RFM breakpoints"

    def __str__(self) -> str:
        return f"RFM breakpoints as of {self.as_of:%Y-%m-%d}"


class StageChange(models.Model):
    """A customer's move between lifecycle stages, for flow reports."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=10, choices=LifecycleStage.choices, blank=True)
    to_stage = models.CharField(max_length=10, choices=LifecycleStage.choices)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at"]
        indexes = [
            models.Index(fields=["changed_at"]),
            models.Index(fields=["customer", "changed_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_stage or '-'} -> {self.to_stage}"


class RefusedImportRow(models.Model):
    """A row an import refused, as it was read, for the refused rows' download.

    Kept so the download outlives the uploaded file, which is deleted once its import ends
    (crm.services.imports.reports). The row of line 1 holds the file's header. At most
    MAX_REPORTED_ERRORS rows per job, as its `errors`. An erasure blanks the person's data
    in these rows (crm.services.erasure).
    """

    job = models.ForeignKey("core.Job", on_delete=models.CASCADE, related_name="refused_rows")
    # The row's line in the file (1: the header).
    line = models.PositiveIntegerField()
    reason = models.TextField(blank=True)
    cells = ArrayField(models.TextField())

    class Meta:
        ordering = ["job", "line"]
        constraints = [
            models.UniqueConstraint(fields=["job", "line"], name="refused_import_row_unique"),
        ]
        # An erasure looks rows up by the person's values in any cell (`cells && ...`).
        indexes = [GinIndex(fields=["cells"], name="refused_import_row_cells")]

    def __str__(self) -> str:
        return f"job {self.job_id} line {self.line}"
