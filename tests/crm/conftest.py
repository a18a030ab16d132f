"""A customer with coupons, granted, redeemed and revoked through the real claim engine."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from campaigns.models import Campaign, CampaignResource, Coupon, CouponTemplate, HarassmentSettings
from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import redeem_coupon
from campaigns.services.support import revoke_coupon
from crm.models import Channel, Customer
from segments.models import Segment
from segments.rules import canonical_rules
from tests.factories import CustomerFactory


@dataclass(frozen=True)
class CouponShop:
    customer: Customer
    other: Customer
    spring: Campaign
    summer: Campaign
    # The customer's coupons, oldest first.
    redeemed: Coupon
    revoked: Coupon
    unused: Coupon


def claim(campaign: Campaign, customer: Customer, channel: str, trigger: str, at) -> Coupon:
    result = claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=channel,
        trigger=trigger,
        idempotency_key=f"{campaign.code}-{customer.customer_id}-{at.isoformat()}",
        now=at,
    )
    return result.coupons[0]


def make_campaign(code: str, *, template_code: str, channels, trigger: str, segment, as_of):
    template = CouponTemplate.objects.create(
        code=template_code,
        name="10 off 50",
        kind="cash",
        face_value=Decimal("10.00"),
        threshold=Decimal("50.00"),
        valid_days=7,
    )
    campaign = Campaign.objects.create(
        code=code,
        name=code.title(),
        business_line=code,
        segment=segment,
        claim_starts_at=as_of - timedelta(days=1),
        claim_ends_at=as_of + timedelta(days=6),
        trigger=trigger,
        daily_limit_per_customer=30,
        limit_per_customer=30,
        stock=100,
        budget=Decimal("1000.00"),
        status="running",
    )
    CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
    campaign.channels.set(channels)
    return campaign


@pytest.fixture
def coupon_shop(db, as_of) -> CouponShop:
    """SH-1 holds three coupons: spring through app_push (3 h before as_of, redeemed half an
    hour before it), summer through homepage (2 h before, then revoked) and spring through
    homepage (1 h before, unused); SH-2 holds one spring coupon."""
    cache.clear()  # the engine caches campaign audiences by code
    HarassmentSettings.objects.create(
        pk=1, max_unused_coupons=100, min_hours_between_same_template=0
    )
    app_push = Channel.objects.create(code="app_push", name="App push", kind="off_site")
    homepage = Channel.objects.create(code="homepage", name="Home page", kind="on_site")
    shanghai = Segment.objects.create(
        name="Shanghai", rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]})
    )
    spring = make_campaign(
        "spring",
        template_code="ten-off",
        channels=[app_push, homepage],
        trigger="login",
        segment=shanghai,
        as_of=as_of,
    )
    summer = make_campaign(
        "summer",
        template_code="summer-ten",
        channels=[homepage],
        trigger="self",
        segment=shanghai,
        as_of=as_of,
    )
    customer = CustomerFactory(
        customer_id="SH-1", city="Shanghai", phone="13912345678", email="dora@example.com"
    )
    other = CustomerFactory(customer_id="SH-2", city="Shanghai")
    claim(spring, other, "app_push", "login", as_of - timedelta(hours=4))
    redeemed = claim(spring, customer, "app_push", "login", as_of - timedelta(hours=3))
    revoked = claim(summer, customer, "homepage", "self", as_of - timedelta(hours=2))
    unused = claim(spring, customer, "homepage", "login", as_of - timedelta(hours=1))
    redeem_coupon(
        code=redeemed.code,
        customer=customer,
        order_id="O-1",
        amount=Decimal("88.00"),
        items=[],
        store="",
        city="Shanghai",
        now=as_of - timedelta(minutes=30),
    )
    revoke_coupon(
        coupon=revoked,
        actor=User.objects.create_user("support-desk"),
        reason="asked for it twice",
        now=as_of - timedelta(minutes=20),
    )
    yield CouponShop(
        customer=customer,
        other=other,
        spring=spring,
        summer=summer,
        redeemed=redeemed,
        revoked=revoked,
        unused=unused,
    )
    cache.clear()
