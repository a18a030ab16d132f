"""Every claim refusal of SPEC §5, decided in SPEC §4 order; a refusal changes nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign, Coupon, CouponEvent, Grant, HarassmentSettings
from campaigns.operator_time import operator_time
from campaigns.selectors import is_in_holdout
from campaigns.services.claims import claim_coupon
from segments.rules import canonical_rules
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def claim(campaign, customer, channel, now, *, key="k1", trigger="login"):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=channel.code,
        trigger=trigger,
        idempotency_key=key,
        now=now,
    )


def state(campaign: Campaign) -> tuple:
    campaign.refresh_from_db()
    return (campaign.issued_count, campaign.spent, Grant.objects.count(), Coupon.objects.count())


def assert_refused(reason, campaign, customer, channel, now, **kwargs) -> str:
    before = state(campaign)
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, customer, channel, now, **kwargs)
    assert refusal.value.reason == reason
    assert state(campaign) == before
    event = CouponEvent.objects.filter(kind="refusal").latest("pk")
    assert (event.reason, event.customer_id, event.channel_code) == (
        reason,
        customer.pk,
        channel.code,
    )
    return refusal.value.detail


def test_grants_one_coupon_with_relative_validity(make_campaign, shopper, app_push, as_of):
    # given
    campaign = make_campaign()
    # when
    result = claim(campaign, shopper, app_push, as_of)
    # then
    coupon = result.coupons[0]
    assert result.created is True
    assert (coupon.face_value, coupon.threshold, coupon.valid_from, coupon.valid_until) == (
        Decimal("10.00"),
        Decimal("50.00"),
        as_of,
        as_of + timedelta(days=7),
    )
    assert state(campaign) == (1, Decimal("10.00"), 1, 1)
    assert list(CouponEvent.objects.values_list("kind", "channel_code", "coupon_id")) == [
        ("grant", "app_push", coupon.pk)
    ]


@pytest.mark.parametrize("status", ["draft", "scheduled", "paused", "finished", "cancelled"])
def test_refuses_when_campaign_is_not_running(make_campaign, shopper, app_push, as_of, status):
    campaign = make_campaign(status=status)
    detail = assert_refused("not_running", campaign, shopper, app_push, as_of)
    assert detail == f"campaign {campaign.code} is {status}"


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        pytest.param(timedelta(0), None, id="at-start-open"),
        pytest.param(-timedelta(seconds=1), "outside_window", id="just-before-start"),
        pytest.param(timedelta(days=7) - timedelta(seconds=1), None, id="just-before-end"),
        pytest.param(timedelta(days=7), "outside_window", id="at-end-closed"),
    ],
)
def test_claim_window_edges(make_campaign, shopper, app_push, as_of, offset, expected):
    # given: the window is [as_of - 1 day, as_of + 6 days)
    campaign = make_campaign()
    now = campaign.claim_starts_at + offset
    # when / then
    if expected is None:
        assert claim(campaign, shopper, app_push, now).created is True
    else:
        assert_refused(expected, campaign, shopper, app_push, now)


def test_refuses_customer_outside_city_scope(make_campaign, app_push, as_of):
    campaign = make_campaign(cities=["Beijing", "Tianjin"])
    customer = CustomerFactory(city="Shanghai")
    detail = assert_refused("out_of_scope", campaign, customer, app_push, as_of)
    assert detail == "city 'Shanghai' is not in the campaign's cities Beijing, Tianjin"


@pytest.mark.parametrize(
    ("scope", "city"),
    [
        pytest.param(["SHANGHAI"], "Shanghai", id="other-case"),
        pytest.param(["shanghai"], " Shanghai ", id="spaces-around-the-customers-city"),
    ],
)
def test_city_scope_matches_trimmed_and_case_insensitively(
    make_campaign, shanghai, app_push, as_of, scope, city
):
    # given: an audience of everyone, a scope typed differently from the customer's city
    shanghai.rules = canonical_rules({"field": "city", "op": "is_null", "value": False})
    shanghai.save(update_fields=["rules", "updated_at"])
    campaign = make_campaign(cities=scope)
    customer = CustomerFactory(city=city)
    # when / then
    assert claim(campaign, customer, app_push, as_of).created is True


def test_refuses_customer_not_in_audience(make_campaign, app_push, as_of):
    campaign = make_campaign()
    outsider = CustomerFactory(customer_id="BJ-1", city="Beijing")
    detail = assert_refused("not_in_audience", campaign, outsider, app_push, as_of)
    assert detail == "customer BJ-1 is not in segment 'Shanghai'"


def test_holdout_is_stable_and_close_to_the_share(make_campaign, app_push, as_of):
    # given: 400 audience customers, a 25% holdout
    campaign = make_campaign(holdout_share=Decimal("0.25"))
    customers = CustomerFactory.create_batch(400, city="Shanghai")
    # when
    first = [is_in_holdout(campaign=campaign, customer=c) for c in customers]
    second = [is_in_holdout(campaign=campaign, customer=c) for c in customers]
    # then: the same draw every time, and a share within sampling noise of 25%
    assert first == second
    assert 70 <= sum(first) <= 130


def test_refuses_holdout_customer(make_campaign, app_push, as_of):
    campaign = make_campaign(holdout_share=Decimal("0.5"))
    customers = CustomerFactory.create_batch(20, city="Shanghai")
    held = next(c for c in customers if is_in_holdout(campaign=campaign, customer=c))
    assert_refused("holdout", campaign, held, app_push, as_of)


def test_daily_limit_then_next_day(make_campaign, shopper, app_push, as_of):
    # given: one claim per day; the operator's day is Asia/Shanghai (UTC+8)
    campaign = make_campaign(daily_limit_per_customer=1, limit_per_customer=5)
    claim(campaign, shopper, app_push, as_of, key="a")  # 20:00 in Shanghai
    # when / then: 3h59m later is still the same Shanghai day
    detail = assert_refused(
        "daily_limit", campaign, shopper, app_push, as_of + 3 * HOUR + timedelta(minutes=59)
    )
    assert detail == "1 of 1 grants today already"
    # and at Shanghai midnight a new day starts
    assert claim(campaign, shopper, app_push, as_of + 4 * HOUR, key="b").created is True


def test_campaign_limit_at_its_boundary(make_campaign, shopper, app_push, as_of):
    # given: two per campaign, one per day
    campaign = make_campaign(limit_per_customer=2)
    claim(campaign, shopper, app_push, as_of, key="a")
    claim(campaign, shopper, app_push, as_of + 24 * HOUR, key="b")
    # when / then
    detail = assert_refused("campaign_limit", campaign, shopper, app_push, as_of + 48 * HOUR)
    assert detail == "2 of 2 grants in this campaign"


def test_out_of_stock_counts_every_coupon_of_a_grant(make_campaign, app_push, as_of):
    # given: 5 coupons of stock, 2 coupons per grant
    campaign = make_campaign(stock=5, quantity=2)
    first, second, third = CustomerFactory.create_batch(3, city="Shanghai")
    claim(campaign, first, app_push, as_of, key="a")
    claim(campaign, second, app_push, as_of, key="b")
    # when / then: 1 coupon left is not enough
    detail = assert_refused("out_of_stock", campaign, third, app_push, as_of, key="c")
    assert detail == "1 coupons left, a grant needs 2"
    assert state(campaign)[0] == 4


def test_budget_exhausted(make_campaign, app_push, as_of):
    # given: a budget of 25 and 10 per coupon
    campaign = make_campaign(budget=Decimal("25.00"))
    first, second, third = CustomerFactory.create_batch(3, city="Shanghai")
    claim(campaign, first, app_push, as_of, key="a")
    claim(campaign, second, app_push, as_of, key="b")
    # when / then
    detail = assert_refused("budget_exhausted", campaign, third, app_push, as_of, key="c")
    assert detail == "5.00 of the budget left, a grant costs 10.00"


def test_percent_coupon_costs_its_cap(make_campaign, make_template, shopper, app_push, as_of):
    template = make_template(kind="percent", face_value=20, max_discount=Decimal("15.00"))
    campaign = make_campaign(template=template, budget=Decimal("100"))
    claim(campaign, shopper, app_push, as_of)
    assert state(campaign)[:2] == (1, Decimal("15.00"))


def test_harassment_cap_across_campaigns(make_campaign, shopper, app_push, as_of):
    # given: at most 2 unused CRM coupons
    HarassmentSettings.objects.filter(pk=1).update(
        max_unused_coupons=2, min_hours_between_same_template=0
    )
    campaigns = [make_campaign() for _ in range(3)]
    claim(campaigns[0], shopper, app_push, as_of)
    claim(campaigns[1], shopper, app_push, as_of)
    # when / then
    detail = assert_refused("harassment_cap", campaigns[2], shopper, app_push, as_of)
    assert detail == "the customer holds 2 unused coupons; the cap is 2"


def test_coupon_past_validity_no_longer_counts_toward_the_cap(
    make_campaign, shopper, app_push, as_of
):
    # given: a cap of 1, a 7-day coupon held, a second campaign open for a month
    HarassmentSettings.objects.filter(pk=1).update(
        max_unused_coupons=1, min_hours_between_same_template=0
    )
    claim(make_campaign(), shopper, app_push, as_of)
    later = make_campaign(claim_ends_at=as_of + timedelta(days=30))
    # when / then: still valid one second before the end, no longer at the end
    assert_refused(
        "harassment_cap", later, shopper, app_push, as_of + timedelta(days=7) - timedelta(seconds=1)
    )
    assert claim(later, shopper, app_push, as_of + timedelta(days=7)).created is True


def test_harassment_interval_for_the_same_template(
    make_campaign, make_template, shopper, app_push, as_of
):
    # given: the same template at most once per 24 hours, through two campaigns
    HarassmentSettings.objects.filter(pk=1).update(
        max_unused_coupons=10, min_hours_between_same_template=24
    )
    template = make_template()
    first = make_campaign(template=template)
    second = make_campaign(template=template)
    claim(first, shopper, app_push, as_of)
    # when / then
    detail = assert_refused("harassment_interval", second, shopper, app_push, as_of + 23 * HOUR)
    assert detail == (
        f"template {template.code} was granted at {operator_time(as_of)}; at most once per 24 hours"
    )
    assert claim(second, shopper, app_push, as_of + 24 * HOUR).created is True


def test_self_claims_are_exempt_from_anti_harassment(make_campaign, shopper, app_push, as_of):
    # given: a cap of 1 already reached by a pushed coupon
    HarassmentSettings.objects.filter(pk=1).update(
        max_unused_coupons=1, min_hours_between_same_template=24
    )
    claim(make_campaign(), shopper, app_push, as_of)
    # when: the customer clicks "claim" on another campaign
    result = claim(make_campaign(trigger="self"), shopper, app_push, as_of, trigger="self")
    # then
    assert result.created is True
    assert result.coupons[0].self_claimed is True


def test_checks_run_in_spec_order(make_campaign, app_push, as_of):
    # given: out of scope AND not in the audience AND out of stock
    campaign = make_campaign(cities=["Beijing"], stock=1)
    outsider = CustomerFactory(city="Chengdu")
    # then: the first rule in SPEC order wins
    assert_refused("out_of_scope", campaign, outsider, app_push, as_of)
