"""The home dashboard answers "what changed": the last 30 days against the 30 before, for
the customer base and for campaigns, money with the operator's currency symbol; the numbers
are counted here from what the test wrote, relative to the real clock the page reads."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.services.claims import claim_coupon
from campaigns.services.redemptions import OrderLine, redeem_coupon, restore_coupons_on_refund
from crm.models import Customer, Order
from tests.conftest import make_user
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

NUTS = [OrderLine(sku="N1", category="nuts", quantity=1, unit_price=Decimal("50.00"))]


def section(html: str, marker: str) -> str:
    return html.split(marker, 1)[1].split("</article>", 1)[0]


@pytest.fixture
def activity(make_campaign, lenient_harassment_rules):
    now = timezone.now()
    for n in range(8):
        CustomerFactory(customer_id=f"H{n}", city="Shanghai")
    window = {"claim_starts_at": now - timedelta(days=70), "claim_ends_at": now + timedelta(days=5)}
    spring = make_campaign(code="spring", name="Spring", limit_per_customer=3, **window)
    summer = make_campaign(code="summer", name="Summer", limit_per_customer=3, **window)
    # (campaign, customer, days ago): four grants this period, two the period before, one
    # before both.
    claims = [
        ("spring", "H0", 2),
        ("spring", "H1", 3),
        ("summer", "H0", 4),
        ("summer", "H2", 29),
        ("spring", "H3", 31),
        ("summer", "H4", 45),
        ("spring", "H5", 65),
    ]
    coupons = {}
    for n, (code, customer, days) in enumerate(claims):
        coupons[n] = claim_coupon(
            campaign=code,
            customer=customer,
            channel="app_push",
            trigger="login",
            idempotency_key=f"h{n}",
            now=now - timedelta(days=days),
        ).coupons[0]
    # Orders: O1 (this period) redeems spring's and summer's coupons of H0; O2 (this period)
    # summer's of H2, then refunded; O3 (the period before) spring's of H3; O4 a paid order
    # with no coupon this period, O5 one the period before.
    orders = [
        ("O1", "H0", Decimal("120.00"), 1, [0, 2]),
        ("O2", "H2", Decimal("80.00"), 25, [3]),
        ("O3", "H3", Decimal("60.00"), 30.5, [4]),
        ("O4", "H6", Decimal("200.00"), 10, []),
        ("O5", "H7", Decimal("30.00"), 50, []),
    ]
    for order_id, customer_id, amount, days, used in orders:
        customer = Customer.objects.get(customer_id=customer_id)
        placed = now - timedelta(days=days)
        Order.objects.create(order_id=order_id, customer=customer, placed_at=placed, amount=amount)
        for index in used:
            redeem_coupon(
                code=coupons[index].code,
                customer=customer,
                order_id=order_id,
                amount=amount,
                items=NUTS,
                store="",
                city="Shanghai",
                now=placed,
            )
    Order.objects.filter(order_id="O2").update(status="refunded")
    restore_coupons_on_refund(order_id="O2", now=now - timedelta(days=4))
    return spring, summer


def test_the_home_page_says_what_changed(activity):
    browser = APIClient()
    browser.force_login(make_user("marketer"))

    with override_settings(CURRENCY_SYMBOL="$"):
        html = browser.get(reverse("home")).content.decode()

    # Campaigns: grants 4 against 2; live redemptions 2 (O1's two) against 1 (O3's); GMV
    # O1 once (120) against O3 (60); discounts 10 per redemption.
    panel = html.split('id="campaign-activity"', 1)[1]
    grants = section(panel, 'data-activity="grants"')
    assert '<p class="stat-value">4</p>' in grants
    assert "▲ +100.0%</span> from 2" in grants
    redemptions = section(panel, 'data-activity="redemptions"')
    assert '<p class="stat-value">2</p>' in redemptions
    assert "from 1" in redemptions
    gmv = section(panel, 'data-activity="gmv"')
    assert '<p class="stat-value">$120.00</p>' in gmv
    assert "▲ +100.0%</span> from $60.00" in gmv
    cost = section(panel, 'data-activity="cost"')
    assert '<p class="stat-value">$20.00</p>' in cost
    assert "from $10.00" in cost
    # The top list: spring and summer each redeemed once on O1 (120 each, ties by id).
    top = panel.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert top.index('data-campaign="spring"') < top.index('data-campaign="summer"')
    assert top.count("$120.00") == 2
    # The base: paid orders O1 and O4 this period (O2 refunded) against O3 and O5.
    orders = section(html, 'data-figure="recent_paid_orders"')
    assert '<p class="stat-value">2</p>' in orders
    assert "no change</span> from 2" in orders
    base_gmv = section(html, 'data-figure="recent_gmv"')
    assert '<p class="stat-value">$320.00</p>' in base_gmv
    assert "▲ +255.6%</span> from $90.00" in base_gmv


def test_a_quiet_shop_shows_no_change_and_the_default_symbol(db):
    browser = APIClient()
    browser.force_login(make_user("analyst"))

    html = browser.get(reverse("home")).content.decode()

    panel = html.split('id="campaign-activity"', 1)[1]
    assert '<p class="stat-value">¥0.00</p>' in section(panel, 'data-activity="gmv"')
    assert "No redemptions in the last 30 days." in panel
    assert "no change</span> from 0" in section(panel, 'data-activity="grants"')
