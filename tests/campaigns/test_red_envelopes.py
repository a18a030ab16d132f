"""Red envelopes (SPEC §4 special): a shared envelope decays with the same customer's
repeated claims (full, then amount x ratio, then a floor); a random envelope draws each
grant's amount in its range, and its budget holds exactly under 200 concurrent claims."""

from decimal import Decimal

import pytest

from campaigns.exceptions import CampaignActionRefused
from campaigns.models import Campaign, Coupon
from campaigns.services import lifecycle
from campaigns.services.claims import claim_coupon
from tests.campaigns.test_claim_concurrency import THREADS, race, tally_of
from tests.factories import CustomerFactory


@pytest.fixture
def envelope(make_campaign, make_template):
    def make(**overrides):
        template = make_template(
            code="envelope", name="Red envelope", face_value=Decimal("10.00"),
            threshold=Decimal("0"),
        )  # fmt: skip
        values = {
            "template": template,
            "trigger": "share",
            "daily_limit_per_customer": 10,
            "limit_per_customer": 10,
            "stock": 1000,
            "budget": Decimal("1000.00"),
        }
        values.update(overrides)
        return make_campaign(**values)

    return make


def claim(campaign, customer, key, now, channel="app_push", trigger="share"):
    result = claim_coupon(
        campaign=campaign.code, customer=customer, channel=channel, trigger=trigger,
        idempotency_key=key, now=now,
    )  # fmt: skip
    return result.coupons[0]


def test_a_shared_envelope_decays_for_the_same_customer_full_then_ratio_then_floor(
    envelope, shopper, as_of
):
    # given a 10.00 shared envelope: the 2nd claim gets x0.35, the 3rd and later 1.50
    campaign = envelope(
        envelope_kind="shared", decay_ratio=Decimal("0.35"), decay_floor=Decimal("1.50")
    )
    other = CustomerFactory(customer_id="SH-2", city="Shanghai")

    # when the same customer claims four times, and another customer once
    amounts = [claim(campaign, "SH-1", f"k{n}", as_of).face_value for n in range(4)]
    first_of_other = claim(campaign, other.customer_id, "o1", as_of).face_value

    # then full, 10 x 0.35 = 3.50, the floor, the floor; the other starts at the full amount
    assert amounts == [Decimal("10.00"), Decimal("3.50"), Decimal("1.50"), Decimal("1.50")]
    assert first_of_other == Decimal("10.00")
    campaign.refresh_from_db()
    assert campaign.spent == Decimal("10.00") + Decimal("3.50") + 2 * Decimal("1.50") + 10
    # and a replayed key answers the same coupon, without decaying further
    assert claim(campaign, "SH-1", "k1", as_of).face_value == Decimal("3.50")


def test_a_random_envelope_draws_amounts_in_its_range(envelope, as_of):
    # given a random envelope of 1.00 to 3.00, mostly low
    campaign = envelope(
        envelope_kind="random", random_min=Decimal("1.00"), random_max=Decimal("3.00"),
        random_distribution="mostly_low", limit_per_customer=1, daily_limit_per_customer=1,
    )  # fmt: skip
    customers = [CustomerFactory(city="Shanghai").customer_id for _ in range(300)]

    # when 300 customers claim
    amounts = [
        claim(campaign, customer, f"k-{customer}", as_of).face_value for customer in customers
    ]

    # then every amount lies in the range, in cents, and most are in the lower half
    assert all(Decimal("1.00") <= amount <= Decimal("3.00") for amount in amounts)
    assert all(amount == amount.quantize(Decimal("0.01")) for amount in amounts)
    assert sum(1 for amount in amounts if amount < 2) > 0.6 * len(amounts)
    assert len(set(amounts)) > 50
    campaign.refresh_from_db()
    assert campaign.spent == sum(amounts)


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_random_envelopes_budget_holds_exactly_under_200_concurrent_claims(envelope, as_of):
    # given a random envelope of 1.00 to 5.00 with a budget of 250.00 (about 83 grants)
    campaign = envelope(
        envelope_kind="random", random_min=Decimal("1.00"), random_max=Decimal("5.00"),
        random_distribution="uniform", budget=Decimal("250.00"), limit_per_customer=1,
        daily_limit_per_customer=1,
    )  # fmt: skip
    customers = [CustomerFactory(city="Shanghai").customer_id for _ in range(THREADS)]

    # when 200 customers claim at once, each on its own connection
    outcomes = race(
        THREADS, lambda index: claim(campaign, customers[index], f"k{index}", as_of).code
    )

    # then no error; grants until a drawn amount no longer fits, then budget_exhausted
    tally = tally_of(outcomes)
    assert set(tally) <= {"granted", "refused:budget_exhausted"}
    assert tally["refused:budget_exhausted"] > 0
    campaign = Campaign.objects.get(pk=campaign.pk)
    issued = list(Coupon.objects.filter(campaign=campaign).values_list("face_value", flat=True))
    assert len(issued) == tally["granted"] == campaign.issued_count
    # the budget is never exceeded, and what it says was spent is exactly what was issued
    assert campaign.spent == sum(issued) <= Decimal("250.00")
    # and a refused claim had a draw larger than what was left
    assert Decimal("250.00") - campaign.spent < Decimal("5.00")


def test_an_envelope_launches_only_with_one_cash_coupon_and_its_settings(
    envelope, make_template, marketer, as_of
):
    # given a random envelope handing out two coupons
    campaign = envelope(
        envelope_kind="random", random_min=Decimal("1"), random_max=Decimal("2"),
        random_distribution="uniform", status="draft", quantity=2,
    )  # fmt: skip

    # when it is scheduled, then it is refused with the reason
    with pytest.raises(CampaignActionRefused) as refused:
        lifecycle.schedule_campaign(campaign=campaign, actor=marketer, now=as_of)
    assert "a red envelope grants exactly one cash coupon (quantity 1) per claim" in (
        refused.value.reasons
    )


def test_the_api_refuses_a_shared_envelope_without_its_decay(marketer_api, shanghai, as_of):
    # when a shared envelope is created without its ratio and floor
    answer = marketer_api.post(
        "/api/v1/campaigns/",
        {"code": "env", "name": "Envelope", "business_line": "x", "segment": shanghai.pk,
         "claim_starts_at": as_of.isoformat(), "claim_ends_at": "2026-07-30T00:00:00Z",
         "stock": 10, "budget": "100.00", "envelope_kind": "shared"},
        format="json",
    )  # fmt: skip

    # then 400 naming both fields
    assert answer.status_code == 400
    assert sorted(answer.json()) == ["decay_floor", "decay_ratio"]
