"""Reads of campaigns and coupon templates for the pages, the API and the admin.

Lists fetch their related rows in bulk (select_related / prefetch_related), never once per
row; the detail figures are a handful of aggregate queries whatever the campaign's size.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Prefetch, QuerySet

from campaigns.enums import CampaignStatus, ClaimRefusalReason, CouponEventKind
from campaigns.models import (
    Campaign,
    CampaignResource,
    Coupon,
    CouponEvent,
    CouponTemplate,
    Grant,
)
from crm.core.models import AuditEntry
from crm.models import Channel, Customer
from segments.models import Segment
from segments.rules import RuleError
from segments.selectors import segment_members

RECENT_GRANTS = 20
RECENT_CHANGES = 15


@dataclass(frozen=True)
class RefusalCount:
    reason: str
    label: str
    refusals: int


@dataclass(frozen=True)
class AudienceSize:
    """Customers in the segment now, of all customers; `problem` when it cannot be counted."""

    customers: int
    total: int
    problem: str = ""

    @property
    def percent(self) -> float:
        """The audience as a percentage of all customers, one decimal."""
        return round(self.customers * 100 / self.total, 1) if self.total else 0.0


@dataclass(frozen=True)
class CampaignDetail:
    campaign: Campaign
    resources: list[CampaignResource]
    channels: list[Channel]
    audience: AudienceSize
    refusals: list[RefusalCount]
    grant_count: int
    recent_grants: list[Grant]
    changes: list[AuditEntry]
    coupons_per_grant: int
    cost_per_grant: Decimal


def coupon_templates_for_list() -> QuerySet[CouponTemplate]:
    """Every coupon template, by code."""
    return CouponTemplate.objects.order_by("code")


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


def audience_size(*, segment: Segment, as_of: datetime) -> AudienceSize:
    """How many customers are in `segment` at `as_of` (now: the stored metric columns)."""
    total = Customer.objects.count()
    try:
        customers = segment_members(segment=segment, as_of=as_of, as_of_is_now=True).count()
    except RuleError as error:
        return AudienceSize(customers=0, total=total, problem=str(error))
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


def campaign_detail(*, code: str, as_of: datetime) -> CampaignDetail:
    """Everything the campaign page shows; raises Campaign.DoesNotExist for an unknown code."""
    campaign = campaigns_for_list().get(code=code)
    resources = list(campaign.resources.all())
    return CampaignDetail(
        campaign=campaign,
        resources=resources,
        channels=list(campaign.channels.all()),
        audience=audience_size(segment=campaign.segment, as_of=as_of),
        refusals=refusals_by_reason(campaign=campaign),
        grant_count=Grant.objects.filter(campaign=campaign).count(),
        recent_grants=recent_grants(campaign=campaign),
        changes=list(
            AuditEntry.objects.filter(object_type="campaign", object_id=campaign.code)
            .select_related("actor")
            .order_by("-at", "-pk")[:RECENT_CHANGES]
        ),
        coupons_per_grant=sum(resource.quantity for resource in resources),
        cost_per_grant=sum(
            (resource.template.budget_cost * resource.quantity for resource in resources),
            Decimal("0"),
        ),
    )


# 2^64: a holdout draw is the first 8 bytes of a sha256, read as an unsigned integer.
HOLDOUT_DRAWS = 2**64


def is_in_holdout(*, campaign: Campaign, customer: Customer) -> bool:
    """Whether `customer` is in `campaign`'s holdout group: the claim engine's own draw
    (campaigns_holdout_draw in campaigns/sql/claim_coupon.sql), stable per pair."""
    if campaign.holdout_share <= 0:
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT campaigns_holdout_draw(%s, %s) < %s",
            [campaign.pk, customer.pk, campaign.holdout_share * HOLDOUT_DRAWS],
        )
        return cursor.fetchone()[0]
