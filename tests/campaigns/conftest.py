"""Campaign fixtures: an audience, a template, a running campaign, a channel."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from campaigns.models import Campaign, CampaignResource, CouponTemplate, HarassmentSettings
from campaigns.services.campaign_setup import set_channels
from crm.models import Channel
from segments.models import Segment
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

SHANGHAI_RULES = {"field": "city", "op": "in", "value": ["Shanghai"]}


@pytest.fixture
def app_push(db):
    return Channel.objects.create(code="app_push", name="App push", kind="off_site")


@pytest.fixture
def shanghai(db):
    return Segment.objects.create(name="Shanghai", rules=canonical_rules(SHANGHAI_RULES))


@pytest.fixture
def make_template(db):
    def make(**overrides) -> CouponTemplate:
        values = {
            "code": f"t{CouponTemplate.objects.count() + 1}",
            "name": "10 off 50",
            "kind": "cash",
            "face_value": Decimal("10.00"),
            "threshold": Decimal("50.00"),
            "valid_days": 7,
        }
        values.update(overrides)
        return CouponTemplate.objects.create(**values)

    return make


@pytest.fixture
def make_campaign(db, shanghai, app_push, make_template, as_of):
    """A running campaign open around `as_of`, granting one 10-off coupon per claim."""

    def make(*, template=None, quantity=1, channels=None, **overrides) -> Campaign:
        values = {
            "code": f"c{Campaign.objects.count() + 1}",
            "name": "Spring snacks",
            "business_line": "snacks",
            "segment": shanghai,
            "claim_starts_at": as_of - timedelta(days=1),
            "claim_ends_at": as_of + timedelta(days=6),
            "trigger": "login",
            "daily_limit_per_customer": 1,
            "limit_per_customer": 3,
            "stock": 100,
            "budget": Decimal("1000.00"),
            "status": "running",
        }
        values.update(overrides)
        campaign = Campaign.objects.create(**values)
        CampaignResource.objects.create(
            campaign=campaign, template=template or make_template(), quantity=quantity
        )
        set_channels(campaign, channels if channels is not None else [app_push])
        return campaign

    return make


@pytest.fixture
def shopper(db):
    return CustomerFactory(customer_id="SH-1", city="Shanghai")


@pytest.fixture(autouse=True)
def lenient_harassment_rules(db):
    """Anti-harassment rules out of the way unless a test is about them."""
    return HarassmentSettings.objects.create(
        pk=1, max_unused_coupons=100, min_hours_between_same_template=0
    )


@pytest.fixture(autouse=True)
def fresh_cache():
    """Values read from the data are cached between requests (10 minutes); each test starts
    without another test's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def wechat(db):
    return Channel.objects.create(code="wechat_oa", name="WeChat", kind="off_site")


@pytest.fixture
def homepage(db):
    return Channel.objects.create(code="homepage", name="Homepage", kind="on_site")


@pytest.fixture
def push_campaign(make_campaign, app_push, wechat, as_of):
    def make(**overrides):
        values = {
            "trigger": "scheduled_push",
            "status": "scheduled",
            "claim_starts_at": as_of + timedelta(hours=1),
            "claim_ends_at": as_of + timedelta(days=6),
            "stock": 10_000,
            "budget": Decimal("100000.00"),
            "channels": [app_push, wechat],
        }
        values.update(overrides)
        return make_campaign(**values)

    return make
