"""Limits hold under concurrency: many threads, each on its own database connection.

Each race is run several times. The first test shows the race bites: a deliberately naive
read-check-write claim, defined here, over-issues under the same load.
"""

import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, transaction

from campaigns.exceptions import ClaimRefused
from campaigns.models import Campaign, Coupon, Grant, HarassmentSettings
from campaigns.services.claims import claim_batch, claim_coupon
from crm.models import Customer
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

THREADS = 200
ROUNDS = 3


def race(count: int, work) -> list:
    """Run work(i) in `count` threads released together; each closes its connection."""
    barrier = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            outcomes[index] = work(index)
        except ClaimRefused as refusal:
            outcomes[index] = f"refused:{refusal.reason}"
        except Exception as error:
            outcomes[index] = f"error: {error!r}"
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def tally_of(outcomes: list) -> Counter:
    """Coupon codes count as granted; refusals and errors keep their label."""
    return Counter(o if str(o).startswith(("refused:", "error:")) else "granted" for o in outcomes)


def claims_from(campaign, customers, channel, now, *, keys=None):
    def work(index: int) -> str:
        result = claim_coupon(
            campaign=campaign.code,
            customer=customers[index].customer_id,
            channel=channel.code,
            trigger="login",
            idempotency_key=keys[index] if keys else f"k{index}",
            now=now,
        )
        return result.coupons[0].code

    return work


def naive_claim(campaign_id: int, customer: Customer, now) -> str:
    """Read the counter, check it, write it back: the bug the engine exists to avoid."""
    with transaction.atomic():
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.issued_count >= campaign.stock:
            raise ClaimRefused("out_of_stock")
        campaign.issued_count += 1
        campaign.save(update_fields=["issued_count"])
        grant = Grant.objects.create(
            campaign=campaign,
            customer=customer,
            channel_id=campaign.channels.get().pk,
            trigger="login",
            idempotency_key=f"naive-{customer.pk}",
            request_fingerprint="-",
            granted_at=now,
            coupon_count=1,
            cost=Decimal("10"),
        )
        Coupon.objects.create(
            code=f"N{customer.pk:011d}",
            template=campaign.resources.get().template,
            campaign=campaign,
            grant=grant,
            customer=customer,
            issued_at=now,
            valid_from=now,
            valid_until=now.replace(year=now.year + 1),
            face_value=Decimal("10"),
            threshold=Decimal("0"),
        )
        return "granted"


def test_naive_read_check_write_over_issues(make_campaign, app_push, as_of):
    # given: stock 100, 200 customers at once
    campaign = make_campaign(stock=100, budget=Decimal("100000"))
    customers = CustomerFactory.create_batch(THREADS, city="Shanghai")
    # when
    outcomes = race(THREADS, lambda i: naive_claim(campaign.pk, customers[i], as_of))
    # then: more coupons than stock — the race is real on this machine
    assert not [o for o in outcomes if str(o).startswith("error")]
    assert Coupon.objects.filter(campaign=campaign).count() > 100


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_stock_of_100_gives_exactly_100(make_campaign, app_push, as_of, round_):
    # given
    campaign = make_campaign(stock=100, budget=Decimal("100000"))
    customers = CustomerFactory.create_batch(THREADS, city="Shanghai")
    # when
    outcomes = race(THREADS, claims_from(campaign, customers, app_push, as_of))
    # then
    tally = tally_of(outcomes)
    assert tally == {"granted": 100, "refused:out_of_stock": 100}
    campaign.refresh_from_db()
    assert campaign.issued_count == 100
    assert Coupon.objects.filter(campaign=campaign).count() == 100


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_customer_fifty_threads_daily_limit_one(make_campaign, app_push, as_of, round_):
    # given
    campaign = make_campaign(daily_limit_per_customer=1, limit_per_customer=10)
    customer = CustomerFactory(city="Shanghai")
    # when: 50 different requests (different keys) for the same customer
    outcomes = race(50, claims_from(campaign, [customer] * 50, app_push, as_of))
    # then
    tally = tally_of(outcomes)
    assert tally == {"granted": 1, "refused:daily_limit": 49}
    assert Coupon.objects.filter(customer=customer).count() == 1


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_harassment_cap_across_five_campaigns(make_campaign, app_push, as_of, round_):
    # given: a cap of 3 unused coupons, five campaigns, 10 requests each, one customer
    HarassmentSettings.objects.filter(pk=1).update(max_unused_coupons=3)
    campaigns = [make_campaign() for _ in range(5)]
    customer = CustomerFactory(city="Shanghai")

    def work(index: int) -> str:
        return (
            claim_coupon(
                campaign=campaigns[index % 5].code,
                customer=customer.customer_id,
                channel=app_push.code,
                trigger="login",
                idempotency_key=f"k{index}",
                now=as_of,
            )
            .coupons[0]
            .code
        )

    # when
    outcomes = race(50, work)
    # then
    granted = tally_of(outcomes)["granted"]
    assert granted == 3
    assert Coupon.objects.filter(customer=customer, status="unused").count() == 3
    assert not [o for o in outcomes if str(o).startswith("error")]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_budget_holds_under_concurrency(make_campaign, app_push, as_of, round_):
    # given: a budget for 37 coupons of 10, plenty of stock
    campaign = make_campaign(stock=1000, budget=Decimal("375.00"))
    customers = CustomerFactory.create_batch(THREADS, city="Shanghai")
    # when
    outcomes = race(THREADS, claims_from(campaign, customers, app_push, as_of))
    # then
    tally = tally_of(outcomes)
    assert tally == {"granted": 37, "refused:budget_exhausted": THREADS - 37}
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("370.00")


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_same_idempotency_key_fifty_times_gives_one_grant(make_campaign, app_push, as_of, round_):
    # given
    campaign = make_campaign()
    customer = CustomerFactory(city="Shanghai")
    # when
    outcomes = race(50, claims_from(campaign, [customer] * 50, app_push, as_of, keys=["same"] * 50))
    # then: every response carries the same code
    assert len(set(outcomes)) == 1
    assert tally_of(outcomes) == {"granted": 50}
    assert (Grant.objects.filter(campaign=campaign).count(), Coupon.objects.count()) == (1, 1)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_batches_and_single_claims_racing_for_the_stock_issue_it_exactly(
    make_campaign, app_push, as_of, round_
):
    # given: stock for 150 grants; 8 batches of 40 customers and 40 single claims race
    # for it, so most batches find the stock taken after their decisions and decide again
    campaign = make_campaign(stock=150, trigger="scheduled_push", budget=Decimal("100000"))
    batches = [CustomerFactory.create_batch(40, city="Shanghai") for _ in range(8)]
    singles = CustomerFactory.create_batch(40, city="Shanghai")

    def work(index: int):
        if index < len(batches):
            with transaction.atomic():
                answers = claim_batch(
                    campaign=campaign.code,
                    customers=[c.customer_id for c in batches[index]],
                    idempotency_keys=[f"b-{c.customer_id}" for c in batches[index]],
                    channel=app_push.code,
                    trigger="scheduled_push",
                    now=as_of,
                )
            return [answer.reason or answer.outcome for answer in answers]
        customer = singles[index - len(batches)]
        claim_coupon(
            campaign=campaign.code,
            customer=customer.customer_id,
            channel=app_push.code,
            trigger="scheduled_push",
            idempotency_key=f"s-{customer.customer_id}",
            now=as_of,
        )
        return ["granted"]

    # when
    outcomes = race(len(batches) + len(singles), work)
    # then: exactly the stock, each refusal out_of_stock, and a batch grants a prefix of
    # its customers (they are decided in order against the stock left)
    assert not [o for o in outcomes if str(o).startswith("error")]
    answers = [
        answer.removeprefix("refused:")
        for outcome in outcomes
        for answer in (outcome if isinstance(outcome, list) else [outcome])
    ]
    assert Counter(answers) == {"granted": 150, "out_of_stock": 8 * 40 + 40 - 150}
    for batch in outcomes[: len(batches)]:
        assert batch == sorted(batch, key=lambda answer: answer != "granted")
    campaign.refresh_from_db()
    assert campaign.issued_count == 150
    assert Grant.objects.filter(campaign=campaign).count() == 150
    assert Coupon.objects.filter(campaign=campaign).count() == 150
