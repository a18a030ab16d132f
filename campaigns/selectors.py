"""Reads of campaigns and coupon templates for the pages, the API and the admin.

Lists fetch their related rows in bulk (select_related / prefetch_related), never once per
row; the detail figures are a handful of aggregate queries whatever the campaign's size.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db import connection
from django.db.models import (
    CharField,
    Count,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Lower, Trim

from campaigns.enums import (
    CampaignStatus,
    ClaimRefusalReason,
    CouponEventKind,
    DeliveryState,
    MessageReason,
    MessageStatus,
)
from campaigns.models import (
    AudienceMember,
    Campaign,
    CampaignResource,
    Coupon,
    CouponEvent,
    CouponTemplate,
    DeliveryBatch,
    DeliveryRun,
    Grant,
    Message,
    Redemption,
)
from campaigns.restrictions import RESTRICTIONS, matching_key, suggestion_key
from crm.core.models import AuditEntry
from crm.core.replica import reads_replica
from crm.models import Channel, Customer, Order, OrderItem
from crm.selectors import customer_by_id
from segments.exceptions import SegmentQueryTimedOut
from segments.models import Segment
from segments.rules import RuleError
from segments.selectors import segment_members
from segments.services.query_settings import segment_query_time_limit

RECENT_GRANTS = 20
RECENT_CHANGES = 15

# The values a code field of the pages is picked from: (model, column). Template
# restrictions meet what redemptions send, the order's items, store and city; a campaign's
# city scope meets the customer's city (the claim engine compares that).
VALUE_SOURCES: dict[str, tuple[type, str]] = {
    "category": (OrderItem, "category"),
    "sku": (OrderItem, "sku"),
    "store": (Order, "store"),
    "city": (Order, "city"),
    "customer_city": (Customer, "city"),
    "member_tier": (Customer, "member_tier"),
}
# How many values a pick list offers, most frequent first (the search narrows them).
VALUES_LIMIT = 200
# Distinct values of a column, and the look-up of a template's values, are a full scan
# (~1-2 s over 10M order items, no index on these columns): kept for a while, as
# segments.selectors.field_values does. A value that reaches the orders meanwhile stops
# being warned about within this delay.
VALUES_CACHE_SECONDS = 600


@dataclass(frozen=True)
class RefusalCount:
    reason: str
    label: str
    refusals: int


@dataclass(frozen=True)
class AudienceSize:
    """Customers in the segment now, of all customers; None and the `problem` when they
    cannot be counted."""

    customers: int | None
    total: int | None
    problem: str = ""

    @property
    def percent(self) -> float:
        """The audience as a percentage of all customers, one decimal."""
        return round(self.customers * 100 / self.total, 1) if self.total else 0.0


@dataclass(frozen=True)
class AudienceRecord:
    """A campaign's audience record in numbers (SPEC §4): members by group, and how many
    of them joined the segment after the start and claimed."""

    recorded_at: datetime | None
    treated: int
    holdout: int
    joined_later: int

    @property
    def members(self) -> int:
        return self.treated + self.holdout


@dataclass(frozen=True)
class CampaignDetail:
    campaign: Campaign
    resources: list[CampaignResource]
    channels: list[Channel]
    audience: AudienceSize
    audience_record: AudienceRecord
    refusals: list[RefusalCount]
    grant_count: int
    recent_grants: list[Grant]
    changes: list[AuditEntry]
    coupons_per_grant: int
    cost_per_grant: Decimal
    # Restrictions of its templates that no order holds yet (restriction_warnings).
    restriction_warnings: list[str]
    pushes: list["PushProgress"]
    messages: "CampaignMessages"
    redemptions: "CampaignRedemptions"


def coupon_templates_for_list() -> QuerySet[CouponTemplate]:
    """Every coupon template, by code."""
    return CouponTemplate.objects.order_by("code")


def values_in_data(*, field: str, search: str = "", limit: int = VALUES_LIMIT) -> list[str]:
    """The values of VALUE_SOURCES[field] the data holds, most frequent first, optionally
    only those containing `search` (case-insensitive). Raises KeyError for another field."""
    model, column = VALUE_SOURCES[field]
    search = search.strip()

    def read() -> list[str]:
        rows = model.objects.exclude(**{column: ""})
        if search:
            rows = rows.filter(**{f"{column}__icontains": search})
        return list(
            rows.order_by()
            .values_list(column)
            .annotate(rows=Count("pk"))
            .order_by("-rows", column)
            .values_list(column, flat=True)[:limit]
        )

    key = f"campaigns:values:{field}:{limit}:{search.casefold()}"
    return cache.get_or_set(key, read, VALUES_CACHE_SECONDS)


def restriction_warnings(*, template: CouponTemplate) -> list[str]:
    """A sentence for each restriction value of `template` that no order holds yet.

    Such a template is valid (a new gift-box SKU sells from tomorrow), but its coupon fits
    no order until then, and a label typed for a code ("Dried fruit" for dried_fruit) never
    will: the sentence suggests the code the data holds when one is alike.
    """
    warnings = []
    for restriction in RESTRICTIONS:
        values = getattr(template, restriction.field)
        if not values:
            continue
        held = _held_values(source=restriction.values, values=values)
        held_keys = {matching_key(value) for value in held}
        for value in values:
            if matching_key(value) in held_keys:
                continue
            alike = sorted(v for v in held if suggestion_key(v) == suggestion_key(value))
            warnings.append(
                f"No order holds the {restriction.label} {value!r} yet, so the coupon fits no "
                "order until one does" + (f"; did you mean {alike[0]!r}?" if alike else ".")
            )
    return warnings


def _held_values(*, source: str, values: list[str]) -> list[str]:
    """The data's values of VALUE_SOURCES[source] equal to one of `values` trimmed and
    case-insensitively, or alike by suggestion_key; one query, cached."""
    model, column = VALUE_SOURCES[source]
    exact = sorted({matching_key(value) for value in values})
    alike = sorted({suggestion_key(value) for value in values})

    def read() -> list[str]:
        key = Lower(Trim(F(column)))
        # suggestion_key in SQL: runs of whitespace, underscores and dashes as one "_".
        loose = Func(
            key,
            Value(r"[\s_-]+"),
            Value("_"),
            Value("g"),
            function="regexp_replace",
            output_field=CharField(),
        )
        return list(
            model.objects.annotate(key=key, loose=loose)
            .filter(Q(key__in=exact) | Q(loose__in=alike))
            .order_by(column)
            .values_list(column, flat=True)
            .distinct()[:VALUES_LIMIT]
        )

    # A digest, not hash(): the same key in every process sharing the cache.
    digest = hashlib.sha256(json.dumps([exact, alike]).encode()).hexdigest()
    cache_key = f"campaigns:held:{source}:{digest}"
    return cache.get_or_set(cache_key, read, VALUES_CACHE_SECONDS)


def is_coupon_template_in_use(*, template: CouponTemplate) -> bool:
    """True once a coupon of the template exists or a campaign past draft hands it out."""
    return (
        Coupon.objects.filter(template=template).exists()
        or CampaignResource.objects.filter(template=template)
        .exclude(campaign__status=CampaignStatus.DRAFT)
        .exists()
    )


def campaigns_for_list() -> QuerySet[Campaign]:
    """Every campaign, newest window first, with its segment, resources and channels."""
    return (
        Campaign.objects.select_related("segment")
        .prefetch_related(
            Prefetch(
                "resources",
                queryset=CampaignResource.objects.select_related("template").order_by(
                    "template__code"
                ),
            ),
            Prefetch("channels", queryset=Channel.objects.order_by("code")),
        )
        .order_by("-claim_starts_at", "code")
    )


def business_lines() -> list[str]:
    """The business lines campaigns use, for the list filter and the wizard's suggestions."""
    return list(
        Campaign.objects.order_by("business_line")
        .values_list("business_line", flat=True)
        .distinct()
    )


@reads_replica
def audience_size(*, segment: Segment, as_of: datetime) -> AudienceSize:
    """How many customers are in `segment` at `as_of` (now: the stored metric columns); a
    preview, so it reads the replica when there is one, and is stopped after
    SEGMENT_STATEMENT_TIMEOUT_SECONDS like the builder's count (the campaign page and the
    wizard wait for it)."""
    try:
        with segment_query_time_limit():
            total = Customer.objects.count()
            customers = segment_members(segment=segment, as_of=as_of, as_of_is_now=True).count()
    except RuleError as error:
        return AudienceSize(customers=None, total=None, problem=str(error))
    except SegmentQueryTimedOut as stopped:
        return AudienceSize(customers=None, total=None, problem=stopped.detail)
    return AudienceSize(customers=customers, total=total)


def refusals_by_reason(*, campaign: Campaign) -> list[RefusalCount]:
    """Claims the engine refused for `campaign`, counted per SPEC §5 reason, most first."""
    labels = dict(ClaimRefusalReason.choices)
    rows = (
        CouponEvent.objects.filter(campaign=campaign, kind=CouponEventKind.REFUSAL)
        .values("reason")
        .annotate(refusals=Count("pk"))
        .order_by("-refusals", "reason")
    )
    return [
        RefusalCount(
            reason=row["reason"],
            label=labels.get(row["reason"], row["reason"]),
            refusals=row["refusals"],
        )
        for row in rows
    ]


def recent_grants(*, campaign: Campaign, limit: int = RECENT_GRANTS) -> list[Grant]:
    """The campaign's latest grants with their customer and channel."""
    return list(
        Grant.objects.filter(campaign=campaign)
        .select_related("customer", "channel")
        .order_by("-granted_at", "-pk")[:limit]
    )


def audience_record(*, campaign: Campaign) -> AudienceRecord:
    """The campaign's audience record counted in one pass over its rows."""
    counts = AudienceMember.objects.filter(campaign=campaign).aggregate(
        treated_members=Count("pk", filter=Q(treated=True)),
        holdout_members=Count("pk", filter=Q(treated=False)),
        joined_later=Count("pk", filter=Q(at_start=False)),
    )
    return AudienceRecord(
        recorded_at=campaign.audience_recorded_at,
        treated=counts["treated_members"],
        holdout=counts["holdout_members"],
        joined_later=counts["joined_later"],
    )


def campaign_detail(*, code: str, as_of: datetime) -> CampaignDetail:
    """Everything the campaign page shows; raises Campaign.DoesNotExist for an unknown code."""
    campaign = campaigns_for_list().get(code=code)
    resources = list(campaign.resources.all())
    return CampaignDetail(
        campaign=campaign,
        resources=resources,
        channels=list(campaign.channels.all()),
        audience=audience_size(segment=campaign.segment, as_of=as_of),
        audience_record=audience_record(campaign=campaign),
        refusals=refusals_by_reason(campaign=campaign),
        grant_count=Grant.objects.filter(campaign=campaign).count(),
        recent_grants=recent_grants(campaign=campaign),
        changes=list(
            AuditEntry.objects.filter(object_type="campaign", object_id=campaign.code)
            .select_related("actor")
            .order_by("-at", "-pk")[:RECENT_CHANGES]
        ),
        restriction_warnings=[
            f"Coupon template {resource.template.code}: {warning}"
            for resource in resources
            for warning in restriction_warnings(template=resource.template)
        ],
        coupons_per_grant=sum(resource.quantity for resource in resources),
        cost_per_grant=sum(
            (resource.template.budget_cost * resource.quantity for resource in resources),
            Decimal("0"),
        ),
        pushes=push_progress(runs=list(campaign_pushes(campaign=campaign))),
        messages=campaign_messages(campaign=campaign),
        redemptions=campaign_redemptions(campaign=campaign),
    )


# 2^64: a holdout draw is the first 8 bytes of a sha256, read as an unsigned integer.
HOLDOUT_DRAWS = 2**64


def holdout_sql(*, campaign: Campaign, customer_pk: str) -> tuple[str, list]:
    """SQL true when the customer whose pk is the expression `customer_pk` is in `campaign`'s
    holdout group: the claim engine's own draw (campaigns_holdout_draw in
    campaigns/sql/claim_coupon.sql), stable per pair; never true without a holdout."""
    return (
        f"(%s > 0 AND campaigns_holdout_draw(%s, {customer_pk}) < %s)",
        [campaign.holdout_share, campaign.pk, campaign.holdout_share * HOLDOUT_DRAWS],
    )


def members_of_campaign(queryset: QuerySet[Customer], campaign: Campaign) -> QuerySet[Customer]:
    """`queryset` limited to the campaign's members or tiers (member incentives), as the
    claim engine limits a claim: a member, of one of the tiers when some are set (trimmed,
    whatever their case)."""
    if not campaign.members_only and not campaign.member_tiers:
        return queryset
    queryset = queryset.filter(is_member=True)
    if campaign.member_tiers:
        tiers = [tier.strip().lower() for tier in campaign.member_tiers]
        queryset = queryset.alias(tier_code=Lower(Trim("member_tier"))).filter(tier_code__in=tiers)
    return queryset


def is_in_holdout(*, campaign: Campaign, customer: Customer) -> bool:
    """Whether `customer` is in `campaign`'s holdout group (holdout_sql)."""
    held_out, params = holdout_sql(campaign=campaign, customer_pk=str(int(customer.pk)))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {held_out}", params)
        return cursor.fetchone()[0]


def coupons_of_customer(*, customer_id: str) -> QuerySet[Coupon]:
    """The coupons of the customer with this external id, newest first, with campaign,
    template and the grant's channel joined in (the channel each grant is recorded with,
    SPEC §4) and `redeemed_at`: the moment of the coupon's live redemption, None without.

    One look-up of the customer, then the coupons by its key (the coupon (customer, status)
    index). Raises Customer.DoesNotExist for an unknown id, one holding a NUL included
    (PostgreSQL text cannot hold one, nor be compared with one).
    """
    customer = customer_by_id(customer_id=customer_id)
    live_redemption = Redemption.objects.filter(coupon=OuterRef("pk"), reversed_at__isnull=True)
    return (
        # A partner's coupon is shown once its code came: never while waiting, nor after
        # its grant was cancelled for want of one (campaigns/services/partner_codes.py).
        Coupon.objects.filter(customer=customer)
        .exclude(template__partner__isnull=False, partner_code="")
        .select_related("campaign", "template", "grant__channel")
        .annotate(redeemed_at=Subquery(live_redemption.values("redeemed_at")[:1]))
        .order_by("-issued_at", "-pk")
    )


def campaign_pushes(*, campaign: Campaign) -> QuerySet[DeliveryRun]:
    """The campaign's push runs, newest first (SPEC §5 deliveries)."""
    return DeliveryRun.objects.filter(campaign=campaign).order_by("-created_at", "-pk")


@dataclass(frozen=True)
class PushProgress:
    """A push run as SPEC §5 shows it: counts summed from its batch ledger, messages per
    channel and status, and the suppressed and deferred ones by reason."""

    id: int
    state: str
    total: int
    processed: int
    granted: int
    skipped: dict[str, int]
    messages: dict[str, dict[str, int]]
    suppressed_by_reason: dict[str, int]
    deferred_by_reason: dict[str, int]
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def is_running(self) -> bool:
        return self.state in (DeliveryState.PENDING, DeliveryState.RUNNING)

    @property
    def percent_done(self) -> int:
        return 100 if not self.total else self.processed * 100 // self.total


MESSAGE_COUNTED_STATUSES = (
    MessageStatus.SENT,
    MessageStatus.FAILED,
    MessageStatus.SUPPRESSED,
    MessageStatus.DEFERRED,
)


def push_progress(*, runs: list[DeliveryRun]) -> list[PushProgress]:
    """Progress of `runs`: two grouped queries whatever their number of batches."""
    by_run = {run.pk: run for run in runs}
    skipped: dict[int, dict[str, int]] = {pk: {} for pk in by_run}
    counts = {pk: [0, 0] for pk in by_run}
    for run_id, processed, granted, batch_skipped in DeliveryBatch.objects.filter(
        run_id__in=by_run
    ).values_list("run_id", "processed", "granted", "skipped"):
        counts[run_id][0] += processed
        counts[run_id][1] += granted
        for reason, number in batch_skipped.items():
            skipped[run_id][reason] = skipped[run_id].get(reason, 0) + number
    messages: dict[int, dict[str, dict[str, int]]] = {pk: {} for pk in by_run}
    reasons: dict[int, dict[str, dict[str, int]]] = {
        pk: {MessageStatus.SUPPRESSED: {}, MessageStatus.DEFERRED: {}} for pk in by_run
    }
    for run_id, channel, status, reason, number in (
        Message.objects.filter(run_id__in=by_run)
        .values_list("run_id", "channel__code", "status", "reason")
        .annotate(number=Count("pk"))
        .order_by("run_id", "channel__code", "status", "reason")
    ):
        per_status = messages[run_id].setdefault(
            channel, {str(status): 0 for status in MESSAGE_COUNTED_STATUSES}
        )
        if status in per_status:
            per_status[status] += number
        if status in reasons[run_id]:
            reasons[run_id][status][reason] = reasons[run_id][status].get(reason, 0) + number
    return [
        PushProgress(
            id=run.pk,
            state=run.state,
            total=run.total,
            processed=counts[run.pk][0],
            granted=counts[run.pk][1],
            skipped=skipped[run.pk],
            messages=messages[run.pk],
            suppressed_by_reason=reasons[run.pk][MessageStatus.SUPPRESSED],
            deferred_by_reason=reasons[run.pk][MessageStatus.DEFERRED],
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
        for run in runs
    ]


def messages_of_customer(*, customer_id: str) -> QuerySet[Message]:
    """The messages to the customer with this external id, newest first (raises
    Customer.DoesNotExist as coupons_of_customer does)."""
    customer = customer_by_id(customer_id=customer_id)
    return (
        Message.objects.filter(customer=customer)
        .select_related("campaign", "channel")
        .order_by("-created_at", "-pk")
    )


@dataclass(frozen=True)
class ChannelMessages:
    channel: str
    queued: int
    sent: int
    failed: int
    suppressed: int
    deferred: int


@dataclass(frozen=True)
class CampaignMessages:
    """A campaign's messages per channel and status, and the suppressed and deferred ones by
    reason (all its messages, pushes and later sends alike)."""

    channels: list[ChannelMessages]
    reasons: list[tuple[str, str, str, int]]  # (status, reason, label, messages)

    @property
    def total(self) -> int:
        return sum(
            row.queued + row.sent + row.failed + row.suppressed + row.deferred
            for row in self.channels
        )


def campaign_messages(*, campaign: Campaign) -> CampaignMessages:
    """One grouped query over the campaign's messages (the (campaign, channel, status)
    index)."""
    counts: dict[str, dict[str, int]] = {}
    reasons: dict[tuple[str, str], int] = {}
    for channel, status, reason, number in (
        Message.objects.filter(campaign=campaign)
        .values_list("channel__code", "status", "reason")
        .annotate(number=Count("pk"))
        .order_by("channel__code", "status", "reason")
    ):
        counts.setdefault(channel, {}).setdefault(status, 0)
        counts[channel][status] += number
        if reason:
            reasons[(status, reason)] = reasons.get((status, reason), 0) + number
    labels = dict(MessageReason.choices)
    return CampaignMessages(
        channels=[
            ChannelMessages(channel, *(by_status.get(s, 0) for s in MessageStatus.values))
            for channel, by_status in counts.items()
        ],
        reasons=[
            (status, reason, labels.get(reason, reason), number)
            for (status, reason), number in sorted(reasons.items())
        ],
    )


@dataclass(frozen=True)
class CampaignRedemptions:
    """Live redemptions of the campaign's coupons: how many, the discount given, the
    latest few."""

    count: int
    discount: Decimal
    recent: list[Redemption]


def campaign_redemptions(*, campaign: Campaign, recent: int = 10) -> CampaignRedemptions:
    """The campaign's live redemptions: count, discount total and the `recent` latest."""
    live = Redemption.objects.filter(coupon__campaign=campaign, reversed_at__isnull=True)
    totals = live.aggregate(count=Count("pk"), discount=Sum("discount"))
    return CampaignRedemptions(
        count=totals["count"],
        discount=totals["discount"] or Decimal("0"),
        recent=list(
            live.select_related("coupon", "customer").order_by("-redeemed_at", "-pk")[:recent]
        ),
    )
