"""A shared red envelope's share page in a real browser, as a member opens it from the
shop's share button: no login, the phone number typed, and a second claim that decays."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignResource, Coupon, CouponTemplate, HarassmentSettings
from crm.models import Channel
from segments.models import Segment
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def envelope():
    now = timezone.now()
    # Claimed twice in a minute: the same template's interval out of the way.
    HarassmentSettings.objects.update_or_create(
        pk=1, defaults={"min_hours_between_same_template": 0}
    )
    CustomerFactory(customer_id="S001", city="Shanghai", phone="13811112222")
    campaign = Campaign.objects.create(
        code="share-8",
        name="Share an 8.88 envelope",
        business_line="envelopes",
        segment=Segment.objects.create(
            name="Shanghai",
            rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]}),
        ),
        claim_starts_at=now - timedelta(hours=1),
        claim_ends_at=now + timedelta(days=3),
        trigger="share",
        limit_per_customer=3,
        daily_limit_per_customer=3,
        stock=100,
        budget=Decimal("500.00"),
        status="running",
        envelope_kind="shared",
        decay_ratio=Decimal("0.5"),
        decay_floor=Decimal("1.00"),
    )
    template = CouponTemplate.objects.create(
        code="envelope-8", name="8.88 cash", kind="cash", face_value=Decimal("8.88"),
        threshold=Decimal("0"), valid_days=7,
    )  # fmt: skip
    CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
    campaign.channels.set([Channel.objects.create(code="share_page", name="Share", kind="on_site")])
    return campaign


def test_a_member_opens_the_envelope_twice_and_the_second_decays(live_server, page, envelope):
    # given: the 2nd claim is 8.88 x 0.5 = 4.44
    page.goto(f"{live_server.url}/share/{envelope.code}/")
    expect(page.locator("[data-testid=share-ladder]")).to_contain_text(
        "Your first claim: 8.88; your second: 4.44; every claim after that: 1.00"
    )
    # when
    page.fill("input[name=phone]", "138 1111 2222")
    page.click("button[type=submit]")
    expect(page.locator("[data-testid=share-result] h2")).to_have_text("You got 8.88")
    page.click("button[type=submit]")
    # then
    expect(page.locator("[data-testid=share-result] h2")).to_have_text("You got 4.44")
    codes = list(Coupon.objects.order_by("id").values_list("code", "face_value"))
    assert [value for _, value in codes] == [Decimal("8.88"), Decimal("4.44")]
    expect(page.locator("[data-testid=share-code]")).to_have_text(codes[1][0])
    assert page.problems == []
