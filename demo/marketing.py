"""The demo shop's marketing, set up through the product's own services.

Segments, coupon templates and campaigns in every status, with a history made by the
claim engine and the redemption service at past moments (time is a parameter of every
service): a running campaign with grants through several channels, redemptions and a
refund; a finished one with a holdout; a paused, a cancelled and a draft one. Each demo
start also schedules a fresh campaign that opens a few minutes later, so a visitor sees
Celery beat start it. Nothing here decides anything the services do not decide.
"""

import json
import math
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from campaigns.enums import CampaignStatus, Trigger
from campaigns.exceptions import ClaimRefused
from campaigns.models import (
    Campaign,
    Coupon,
    CouponTemplate,
    DeliveryBatch,
    Message,
    Redemption,
)
from campaigns.services import lifecycle
from campaigns.services.birthday_gifts import grant_birthday_gifts
from campaigns.services.campaign_setup import ResourceSpec, create_campaign
from campaigns.services.claims import claim_coupon
from campaigns.services.coupon_templates import create_coupon_template
from campaigns.services.first_order_gifts import grant_first_order_gifts
from campaigns.services.push_delivery import deliver_batch, sweep_pushes
from campaigns.services.redemptions import (
    OrderLine,
    redeem_coupon,
    reverse_redemptions_of_refunded_orders,
)
from crm.models import Channel, Customer
from crm.services.imports.runs import ingest_records
from crm.services.points import adjust_points
from demo.shop import PRODUCTS
from segments.models import Segment
from segments.selectors import segment_members
from segments.services.definitions import create_segment

# Minutes between a demo start and the opening of the campaign it schedules: time to log
# in and look at it "Scheduled" before beat starts it.
OPENING_IN_MINUTES = 3
OPENING_CODE_PREFIX = "flash-"
# Seeded, so a new demo database gets the same history.
HISTORY_SEED = 2026

SEGMENTS = (
    (
        "Loyal snackers",
        "Three or more paid orders: the regulars.",
        {"field": "order_count", "op": "gte", "value": 3},
    ),
    (
        "Lapsed customers",
        "Bought before, but not for a month or more.",
        {"field": "lifecycle_stage", "op": "in", "value": ["silent", "churned"]},
    ),
    (
        "Gold and platinum members",
        "Members of the two top tiers.",
        {"field": "member_tier", "op": "in", "value": ["gold", "platinum"]},
    ),
    (
        "Members",
        "Every loyalty member, whatever the tier.",
        {"field": "is_member", "op": "eq", "value": True},
    ),
    (
        "Dried-fruit fans",
        "Dried fruit is where they spend most.",
        {"field": "preferred_category", "op": "eq", "value": "dried_fruit"},
    ),
    (
        "Gold dried-fruit fans on app or WeChat",
        "Gold members who spend most on dried fruit and can be messaged by app push or WeChat.",
        {
            "all": [
                {"field": "member_tier", "op": "eq", "value": "gold"},
                {"field": "preferred_category", "op": "eq", "value": "dried_fruit"},
                {
                    "any": [
                        {"field": "consent", "op": "has", "value": "app_push"},
                        {"field": "consent", "op": "has", "value": "wechat_oa"},
                    ]
                },
            ]
        },
    ),
    (
        "Everyone with an order",
        "Customers with at least one paid order.",
        {"field": "order_count", "op": "gte", "value": 1},
    ),
)

TEMPLATES = (
    {
        "code": "spend-59-get-10",
        "name": "10 off orders of 59",
        "kind": "cash",
        "face_value": Decimal("10.00"),
        "threshold": Decimal("59.00"),
        "valid_days": 14,
    },
    {
        "code": "dried-fruit-28-get-4",
        "name": "4 off 28 of dried fruit",
        "kind": "cash",
        "face_value": Decimal("4.00"),
        "threshold": Decimal("28.00"),
        "categories": ["dried_fruit"],
        "valid_days": 7,
    },
    {
        "code": "cherry-gift-box",
        "name": "Free dried-cherry gift box",
        "kind": "gift",
        "face_value": Decimal("39.00"),
        "valid_days": 7,
    },
    {
        "code": "envelope-cash",
        "name": "Red envelope (cash, no threshold)",
        "kind": "cash",
        "face_value": Decimal("8.88"),
        "valid_days": 7,
    },
    {
        "code": "nuts-15-percent",
        "name": "15% off nuts (up to 20)",
        "kind": "percent",
        "face_value": Decimal("15"),
        "max_discount": Decimal("20.00"),
        "categories": ["nuts"],
        "valid_days": 10,
    },
    {
        "code": "welcome-back-20",
        "name": "20 off orders of 99, welcome back",
        "kind": "cash",
        "face_value": Decimal("20.00"),
        "threshold": Decimal("99.00"),
        "valid_days": 30,
    },
    {
        "code": "birthday-30",
        "name": "30 off orders of 88, happy birthday",
        "kind": "cash",
        "face_value": Decimal("30.00"),
        "threshold": Decimal("88.00"),
        "valid_days": 30,
    },
    {
        "code": "points-200",
        "name": "200 bonus points",
        "kind": "points",
        "face_value": Decimal("200"),
        "valid_days": 30,
    },
)


@dataclass(frozen=True)
class CampaignPlan:
    """A demo campaign: its settings, where its window sits around the demo's start, the
    status it ends in, and how much history it gets."""

    code: str
    name: str
    segment: str
    templates: tuple[str, ...]
    channels: tuple[str, ...]
    trigger: str
    opens_days: int  # window start, in days from now (negative: in the past)
    closes_days: int
    final_status: str
    claims: int = 0
    redeemed_share: float = 0.0
    refunds: int = 0
    holdout_share: Decimal = Decimal("0")
    business_line: str = "snacks"
    stock: int = 5000
    budget: Decimal = Decimal("50000.00")
    # A scheduled push: the local time of day its window opened (and it was pushed).
    pushed_at: time | None = None
    # A red envelope: Campaign's envelope fields (envelope_kind, decay_*, random_*).
    envelope: dict = field(default_factory=dict)
    # Grants per customer, a day and in all; each claimant claims up to that many times.
    limit_per_customer: int = 1


CAMPAIGNS = (
    CampaignPlan(
        code="weekend-treats",
        name="Weekend treats for regulars",
        segment="Loyal snackers",
        templates=("spend-59-get-10",),
        channels=("app_push", "wechat_oa", "homepage"),
        trigger="self",
        opens_days=-10,
        closes_days=20,
        final_status=CampaignStatus.RUNNING,
        claims=400,
        redeemed_share=0.35,
        refunds=1,
        holdout_share=Decimal("0.05"),
    ),
    CampaignPlan(
        code="spring-festival",
        name="Spring Festival stock-up",
        segment="Everyone with an order",
        templates=("welcome-back-20", "nuts-15-percent"),
        channels=("app_push", "sms"),
        trigger="login",
        opens_days=-60,
        closes_days=-30,
        final_status=CampaignStatus.FINISHED,
        claims=500,
        redeemed_share=0.3,
        holdout_share=Decimal("0.10"),
        business_line="seasonal",
    ),
    CampaignPlan(
        code="dried-fruit-week",
        name="Dried fruit week",
        segment="Dried-fruit fans",
        templates=("dried-fruit-28-get-4",),
        channels=("wechat_oa",),
        trigger="homepage",
        opens_days=-5,
        closes_days=9,
        final_status=CampaignStatus.PAUSED,
        claims=60,
        redeemed_share=0.25,
    ),
    CampaignPlan(
        code="win-back",
        name="Win back lapsed customers",
        segment="Lapsed customers",
        templates=("welcome-back-20",),
        channels=("sms", "app_push"),
        trigger="scheduled_push",
        opens_days=5,
        closes_days=19,
        final_status=CampaignStatus.CANCELLED,
    ),
    CampaignPlan(
        code="member-birthdays",
        name="Birthday treat for members",
        segment="Members",
        templates=("birthday-30",),
        channels=("app_push", "sms"),
        trigger="birthday",
        # Two months of birthdays: with the tests' 120 customers, 30 days held none of the
        # treated members' birthdays on some dates.
        opens_days=-60,
        closes_days=305,
        final_status=CampaignStatus.RUNNING,
        business_line="membership",
        holdout_share=Decimal("0.10"),
    ),
    CampaignPlan(
        code="first-order-welcome",
        name="Welcome gift on the first order",
        segment="Everyone with an order",
        templates=("spend-59-get-10",),
        channels=("app_push",),
        trigger="first_order",
        opens_days=-20,
        closes_days=40,
        final_status=CampaignStatus.RUNNING,
        business_line="welcome",
    ),
    CampaignPlan(
        code="gold-points",
        name="Bonus points for gold members",
        segment="Gold and platinum members",
        templates=("points-200",),
        channels=("app_push",),
        trigger="self",
        opens_days=14,
        closes_days=28,
        final_status=CampaignStatus.DRAFT,
        business_line="membership",
    ),
    CampaignPlan(
        code="friday-dried-fruit",
        name="Friday dried fruit drop",
        segment="Gold dried-fruit fans on app or WeChat",
        templates=("cherry-gift-box", "dried-fruit-28-get-4"),
        channels=("app_push", "wechat_oa", "sms"),
        trigger="scheduled_push",
        opens_days=-2,
        closes_days=12,
        final_status=CampaignStatus.RUNNING,
        holdout_share=Decimal("0.10"),
        business_line="dried fruit",
        # Late in the evening: SMS waits out its quiet hours until 08:00 (demo/shop.py).
        pushed_at=time(22, 30),
    ),
    CampaignPlan(
        code="lucky-envelope",
        name="Lucky red envelope on login",
        segment="Everyone with an order",
        templates=("envelope-cash",),
        channels=("app_push", "homepage"),
        trigger="login",
        opens_days=-7,
        closes_days=7,
        final_status=CampaignStatus.RUNNING,
        claims=300,
        redeemed_share=0.2,
        business_line="envelopes",
        budget=Decimal("900.00"),
        envelope={
            "envelope_kind": "random",
            "random_min": Decimal("0.50"),
            "random_max": Decimal("8.88"),
            "random_distribution": "mostly_low",
        },
    ),
    CampaignPlan(
        code="share-envelope",
        name="Share a red envelope with friends",
        segment="Everyone with an order",
        templates=("envelope-cash",),
        channels=("share_page",),
        trigger="share",
        opens_days=-5,
        closes_days=10,
        final_status=CampaignStatus.RUNNING,
        claims=120,
        redeemed_share=0.15,
        business_line="shared envelopes",
        budget=Decimal("1200.00"),
        limit_per_customer=3,
        envelope={
            "envelope_kind": "shared",
            "decay_ratio": Decimal("0.5"),
            "decay_floor": Decimal("1.00"),
        },
    ),
)


@dataclass
class MarketingSummary:
    staged: bool
    segments: int = 0
    templates: int = 0
    campaigns: Counter = field(default_factory=Counter)
    grants: int = 0
    refusals: Counter = field(default_factory=Counter)
    redemptions: int = 0
    refunds: int = 0
    goodwill_points: int = 0
    opening: Campaign | None = None

    def describe(self) -> str:
        lines = []
        if self.staged:
            statuses = ", ".join(f"{n} {status}" for status, n in sorted(self.campaigns.items()))
            lines.append(
                f"Marketing set up: {self.segments} segments, {self.templates} coupon templates, "
                f"campaigns ({statuses}); {self.grants} grants, {self.redemptions} redemptions, "
                f"{self.refunds} refunded; {self.goodwill_points} customers given "
                f"{GOODWILL_POINTS} goodwill points."
            )
        else:
            lines.append("Marketing already set up: kept as it is.")
        if self.opening is not None:
            lines.append(
                f"Campaign {self.opening.code} is scheduled to open at "
                f"{timezone.localtime(self.opening.claim_starts_at):%H:%M:%S}; "
                "Celery beat starts it."
            )
        return "\n".join(lines)


def stage_demo_marketing(
    *, now: datetime, opening_in: timedelta = timedelta(minutes=OPENING_IN_MINUTES)
) -> MarketingSummary:
    """Set the demo's marketing up once (segments, templates, campaigns and their history),
    and schedule a fresh campaign opening `opening_in` after `now` on every call (the
    previous one, if still scheduled or running, is finished first)."""
    if Campaign.objects.exclude(code__startswith=OPENING_CODE_PREFIX).exists():
        summary = MarketingSummary(staged=False)
    else:
        summary = _stage_history(now=now)
    summary.opening = _schedule_opening_campaign(now=now, opening_in=opening_in)
    return summary


@transaction.atomic
def _stage_history(*, now: datetime) -> MarketingSummary:
    summary = MarketingSummary(staged=True)
    actor = User.objects.filter(username="marketer").first()
    segments = {}
    for name, description, rules in SEGMENTS:
        segments[name] = create_segment(
            name=name, description=description, rules=rules, actor=actor, now=now
        )
        summary.segments += 1
    for fields in TEMPLATES:
        create_coupon_template(fields=fields, actor=actor, now=now)
        summary.templates += 1
    history = random.Random(HISTORY_SEED)  # noqa: S311 - demo data, reproducible on purpose
    for plan in CAMPAIGNS:
        _stage_campaign(
            plan,
            segment=segments[plan.segment],
            actor=actor,
            now=now,
            history=history,
            summary=summary,
        )
    summary.goodwill_points = _goodwill_points(now=now)
    return summary


def _goodwill_points(*, now: datetime) -> int:
    """Support's apology for each refunded order of a campaign's coupon: 100 points, a row of
    the customer's points ledger with who gave them and why."""
    support = User.objects.filter(username="support").first()
    customers = Customer.objects.filter(
        pk__in=Redemption.objects.filter(reversed_at__isnull=False).values("customer_id")
    ).order_by("customer_id")
    for customer in customers:
        adjust_points(
            customer=customer,
            change=GOODWILL_POINTS,
            note="sorry about the refunded order",
            actor=support,
            now=now,
        )
    return len(customers)


def _stage_campaign(plan, *, segment, actor, now, history, summary) -> None:
    opens = now + timedelta(days=plan.opens_days)
    if plan.pushed_at is not None:
        opens = datetime.combine(
            timezone.localdate(opens), plan.pushed_at, tzinfo=timezone.get_current_timezone()
        )
    campaign = create_campaign(
        fields={
            "code": plan.code,
            "name": plan.name,
            "business_line": plan.business_line,
            "campaign_type": "targeted",
            "segment": segment,
            "claim_starts_at": opens,
            "claim_ends_at": now + timedelta(days=plan.closes_days),
            "trigger": plan.trigger,
            "daily_limit_per_customer": plan.limit_per_customer,
            "limit_per_customer": plan.limit_per_customer,
            "stock": plan.stock,
            "budget": plan.budget,
            "holdout_share": plan.holdout_share,
            **plan.envelope,
        },
        resources=[
            ResourceSpec(template=CouponTemplate.objects.get(code=code), quantity=1)
            for code in plan.templates
        ],
        channels=list(Channel.objects.filter(code__in=plan.channels)),
        actor=actor,
        now=min(now, opens - timedelta(days=2)),
    )
    if plan.final_status != CampaignStatus.DRAFT:
        # Scheduled when the campaign was prepared: a day before its window (or now).
        campaign = lifecycle.schedule_campaign(
            campaign=campaign, actor=actor, now=min(now, opens - timedelta(days=1))
        )
        lifecycle.advance_campaigns(now=min(now, opens))
    campaign.refresh_from_db()
    if plan.trigger == Trigger.SCHEDULED_PUSH and campaign.status == CampaignStatus.RUNNING:
        _push(campaign, opens=opens, summary=summary)
    if plan.claims:
        _claims_and_redemptions(plan, campaign=campaign, now=now, history=history, summary=summary)
    if plan.trigger == Trigger.BIRTHDAY:
        # The gifts of each day since it opened, as beat's hourly run granted them.
        for days_ago in range(-plan.opens_days, -1, -1):
            grant_birthday_gifts(now=now - timedelta(days=days_ago))
    if plan.trigger == Trigger.FIRST_ORDER:
        # The customers whose first paid order came since it opened, as beat grants them.
        grant_first_order_gifts(now=now)
    if plan.final_status == CampaignStatus.PAUSED:
        lifecycle.pause_campaign(campaign=campaign, actor=actor, now=now)
    elif plan.final_status == CampaignStatus.CANCELLED:
        lifecycle.cancel_campaign(campaign=campaign, actor=actor, now=now)
    elif plan.final_status == CampaignStatus.FINISHED:
        lifecycle.advance_campaigns(now=now)
    summary.campaigns[plan.final_status] += 1


def _push(campaign, *, opens, summary) -> None:
    """The push the worker made at the window's start, and the sweeper's sends of the
    messages deferred by quiet hours (each at its due moment), as they ran then."""
    for batch_id in DeliveryBatch.objects.filter(run__campaign=campaign).values_list(
        "pk", flat=True
    ):
        deliver_batch(batch_id=batch_id, now=opens)
    for due_at in sorted(
        set(
            Message.objects.filter(campaign=campaign, status="deferred").values_list(
                "due_at", flat=True
            )
        )
    ):
        sweep_pushes(now=due_at)
    summary.grants += campaign.grants.count()


def _claims_and_redemptions(plan, *, campaign, now, history, summary) -> None:
    """Claims through the engine at moments spread over the window so far, then orders the
    coupons fit (ingested in one request per kind, as a shop's pipeline sends them),
    redeemed at the moment of each order, and the plan's refunds."""
    opens = campaign.claim_starts_at
    until = min(now, campaign.claim_ends_at) - timedelta(minutes=5)
    span = (until - opens).total_seconds()
    moments = sorted(opens + timedelta(seconds=history.random() * span) for _ in range(plan.claims))
    audience = list(
        segment_members(segment=campaign.segment, as_of=opens)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)
    )
    claimants = history.sample(audience, min(plan.claims, len(audience)))
    if plan.limit_per_customer > 1:
        # Some claim again (a shared envelope's link reaching them twice or more).
        claimants = [
            customer_id
            for customer_id in claimants
            for _ in range(history.randint(1, plan.limit_per_customer))
        ][: plan.claims]
    planned: list[_PlannedRedemption] = []
    claims_of: Counter = Counter()
    first_claim: dict[str, datetime] = {}
    for customer_id, moment in zip(claimants, moments, strict=False):
        claims_of[customer_id] += 1
        repeat = claims_of[customer_id] - 1
        # A repeat a day and more after the first: one template at most once per 24 hours.
        moment = first_claim.setdefault(customer_id, moment) + timedelta(hours=25 * repeat)
        if moment > until:
            continue
        try:
            result = claim_coupon(
                campaign=campaign.code,
                customer=customer_id,
                channel=history.choice(plan.channels),
                trigger=plan.trigger,
                idempotency_key=f"demo-{campaign.code}-{customer_id}"
                + (f"-{repeat}" if repeat else ""),
                now=moment,
            )
        except ClaimRefused as refusal:
            summary.refusals[refusal.reason] += 1
            continue
        summary.grants += 1
        if history.random() < plan.redeemed_share:
            redeemed_at = min(now, moment + timedelta(hours=history.uniform(2, 120)))
            for coupon in result.coupons:
                redemption = _fitting_order(coupon, customer_id, redeemed_at, history)
                if redemption is not None:
                    planned.append(redemption)
    if not planned:
        return
    ingest_records(kind="orders", items=[r.order for r in planned], now=now)
    ingest_records(kind="order_items", items=[i for r in planned for i in r.items], now=now)
    customers = Customer.objects.in_bulk(
        [r.order["customer_id"] for r in planned], field_name="customer_id"
    )
    for redemption in planned:
        redeem_coupon(
            code=redemption.code,
            customer=customers[redemption.order["customer_id"]],
            order_id=redemption.order["order_id"],
            amount=Decimal(redemption.order["amount"]),
            items=redemption.lines,
            store="",
            city=redemption.order["city"],
            now=redemption.at,
        )
        summary.redemptions += 1
    refunded = [{**r.order, "status": "refunded"} for r in planned[: plan.refunds]]
    if refunded:
        ingest_records(kind="orders", items=refunded, now=now)
        summary.refunds += reverse_redemptions_of_refunded_orders(now=now)


GOODWILL_POINTS = 100


@dataclass(frozen=True)
class _PlannedRedemption:
    code: str
    at: datetime
    order: dict
    items: list[dict]
    lines: list[OrderLine]


def _fitting_order(coupon: Coupon, customer_id: str, at: datetime, history):
    """A paid order at `at` that the coupon fits (its categories, above its threshold), to
    redeem the coupon on; None when the coupon cannot be used (points, or outside its
    validity)."""
    coupon = Coupon.objects.select_related("template", "customer").get(pk=coupon.pk)
    template = coupon.template
    if template.kind == "points" or at < coupon.valid_from or at >= coupon.valid_until:
        return None
    categories = template.categories or ["nuts", "dried_fruit", "jerky", "candy"]
    product = history.choice([p for p in PRODUCTS if p.category in categories])
    quantity = max(1, math.ceil(template.threshold / product.price)) + history.randint(0, 2)
    line = OrderLine(product.sku, product.category, quantity, product.price)
    order_id = f"D{at:%y%m%d}-{history.getrandbits(32):08X}"
    return _PlannedRedemption(
        code=coupon.code,
        at=at,
        order={
            "order_id": order_id,
            "customer_id": customer_id,
            "placed_at": at.isoformat(),
            "amount": str(line.amount),
            "channel": "app",
            "city": coupon.customer.city,
            "status": "paid",
        },
        items=[
            {
                "order_id": order_id,
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
            }
        ],
        lines=[line],
    )


@transaction.atomic
def _schedule_opening_campaign(*, now: datetime, opening_in: timedelta) -> Campaign:
    actor = User.objects.filter(username="marketer").first()
    for previous in Campaign.objects.filter(
        code__startswith=OPENING_CODE_PREFIX,
        status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED],
    ):
        lifecycle.finish_campaign(campaign=previous, actor=actor, now=now)
    opens = now + opening_in
    campaign = create_campaign(
        fields={
            "code": f"{OPENING_CODE_PREFIX}{now:%Y%m%d-%H%M%S}",
            "name": f"Flash sale opening at {timezone.localtime(opens):%H:%M}",
            "business_line": "flash",
            "campaign_type": "targeted",
            "segment": Segment.objects.get(name="Everyone with an order"),
            "claim_starts_at": opens,
            "claim_ends_at": opens + timedelta(hours=6),
            "trigger": "self",
            "daily_limit_per_customer": 1,
            "limit_per_customer": 1,
            "stock": 500,
            "budget": Decimal("5000.00"),
            "holdout_share": Decimal("0"),
        },
        resources=[
            ResourceSpec(template=CouponTemplate.objects.get(code="spend-59-get-10"), quantity=1)
        ],
        channels=list(Channel.objects.filter(code__in=["app_push", "homepage"])),
        actor=actor,
        now=now,
    )
    return lifecycle.schedule_campaign(campaign=campaign, actor=actor, now=now)


@dataclass(frozen=True)
class ClaimExample:
    """A claim that the running demo campaign grants right now, and the curl that sends it."""

    token: str
    payload: dict

    def curl(self, *, base_url: str) -> str:
        body = json.dumps(self.payload)
        return (
            "A claim against the running demo campaign (201 with the coupon; run it again: "
            "200, the same coupon):\n"
            f"curl -sS -w '\\nHTTP %{{http_code}}\\n' -X POST {base_url}/api/v1/claims/ "
            f"-H 'Authorization: Token {self.token}' -H 'Content-Type: application/json' "
            f"-d '{body}'"
        )


def claim_example(*, now: datetime) -> ClaimExample:
    """A claim of the running demo campaign by a customer who can still claim it now, with a
    new idempotency key: each candidate's claim is tried in a savepoint and undone, so the
    claim engine itself decides who qualifies and nothing is written."""
    campaign = Campaign.objects.get(code="weekend-treats")
    token = Token.objects.get(user__username="integration").key
    key = f"demo-{secrets.token_hex(6)}"
    channel = campaign.channels.order_by("code").first().code
    candidates = (
        segment_members(segment=campaign.segment, as_of=now)
        .exclude(coupons__campaign=campaign)
        .order_by("customer_id")
        .values_list("customer_id", flat=True)[:200]
    )
    for customer_id in candidates:
        payload = {
            "campaign": campaign.code,
            "customer": customer_id,
            "channel": channel,
            "trigger": campaign.trigger,
            "idempotency_key": key,
        }
        try:
            with transaction.atomic():
                claim_coupon(**payload, now=now)
                transaction.set_rollback(True)
        except ClaimRefused:
            continue
        return ClaimExample(token=token, payload=payload)
    raise RuntimeError("no demo customer can claim weekend-treats now")
