"""The claim engine's batch entry decides exactly as the same claims made one by one.

For each generated case the fixture is built once; the batch runs in one savepoint and the
same claims one by one (claim_coupon, the API's entry) in another, both rolled back, and
their answers and the state they leave (grants, coupons, counters, ledger) are compared. The
cases mix every rule a batch can meet: the audience, the city scope, the holdout, repeated
customers against the daily and campaign limits, stock and budget running out mid-batch,
the anti-harassment cap and interval, keys replayed within the batch, and a shared red
envelope's amounts decaying with a customer's repeated grants.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.exceptions import ClaimRefused
from campaigns.models import CouponEvent, Grant, HarassmentSettings
from campaigns.services.claims import claim_batch, claim_coupon
from tests.factories import CustomerFactory


class _RolledBackError(Exception):
    pass


CUSTOMERS = st.lists(
    st.fixed_dictionaries(
        {
            "city": st.sampled_from(["Shanghai", "Shanghai", "Shanghai", "Beijing"]),
            "unused_elsewhere": st.integers(0, 3),
        }
    ),
    min_size=1,
    max_size=6,
)


@st.composite
def cases(draw):
    customers = draw(CUSTOMERS)
    claims = draw(
        st.lists(
            st.tuples(st.integers(0, len(customers) - 1), st.integers(0, 9)),
            min_size=1,
            max_size=14,
        )
    )
    return {
        "customers": customers,
        # (customer index, key number): the same pair twice is a replayed key.
        "claims": claims,
        "stock": draw(st.integers(1, 12)),
        "budget": draw(st.sampled_from([Decimal("10"), Decimal("35"), Decimal("500")])),
        "daily_limit": draw(st.integers(1, 3)),
        "campaign_limit": draw(st.integers(1, 4)),
        "holdout_share": draw(st.sampled_from([Decimal("0"), Decimal("0.3")])),
        "max_unused": draw(st.integers(1, 6)),
        "min_hours": draw(st.sampled_from([0, 0, 24])),
        "city_scope": draw(st.sampled_from([[], ["Shanghai"]])),
        # A shared red envelope: a customer's repeated grants cost 10, then 5, then 3.
        "shared_envelope": draw(st.booleans()),
    }


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_a_batch_decides_every_claim_as_the_same_claims_made_one_by_one(
    case, make_campaign, make_template, as_of
):
    try:
        with transaction.atomic():
            customers, campaign = _fixture(case, make_campaign, make_template, as_of)
            ids = [customers[index].customer_id for index, _ in case["claims"]]
            keys = [f"k{index}-{number}" for index, number in case["claims"]]
            batch = _in_savepoint(lambda: _batch(campaign, ids, keys, as_of), campaign)
            single = _in_savepoint(lambda: _one_by_one(campaign, ids, keys, as_of), campaign)
            assert batch == single
            raise _RolledBackError
    except _RolledBackError:
        pass


def _fixture(case, make_campaign, make_template, as_of):
    template = make_template(face_value=Decimal("10.00"))
    customers = [CustomerFactory(city=customer["city"]) for customer in case["customers"]]
    other = make_campaign(
        business_line="elsewhere", stock=1000, limit_per_customer=10, daily_limit_per_customer=10
    )
    for customer, plan in zip(customers, case["customers"], strict=True):
        # Coupons of another campaign on the same audience (Shanghai) count toward the cap.
        for number in range(plan["unused_elsewhere"] if plan["city"] == "Shanghai" else 0):
            claim_coupon(
                campaign=other.code,
                customer=customer.customer_id,
                channel="app_push",
                trigger="login",
                idempotency_key=f"other-{customer.customer_id}-{number}",
                now=as_of - timedelta(hours=10 - number),
            )
    HarassmentSettings.objects.filter(pk=1).update(
        max_unused_coupons=case["max_unused"],
        min_hours_between_same_template=case["min_hours"],
    )
    campaign = make_campaign(
        template=template,
        stock=case["stock"],
        budget=case["budget"],
        daily_limit_per_customer=case["daily_limit"],
        limit_per_customer=case["campaign_limit"],
        holdout_share=case["holdout_share"],
        cities=case["city_scope"],
        trigger="scheduled_push",
        **(
            {"envelope_kind": "shared", "decay_ratio": Decimal("0.5"), "decay_floor": Decimal("3")}
            if case["shared_envelope"]
            else {}
        ),
    )
    return customers, campaign


def _in_savepoint(run, campaign):
    try:
        with transaction.atomic():
            answers = run()
            raise _ResultError((answers, _state(campaign)))
    except _ResultError as result:
        return result.value


class _ResultError(Exception):
    def __init__(self, value):
        self.value = value


def _batch(campaign, ids, keys, now):
    answers = claim_batch(
        campaign=campaign.code,
        customers=ids,
        idempotency_keys=keys,
        channel="app_push",
        trigger="scheduled_push",
        now=now,
    )
    return [(answer.customer, answer.outcome, answer.reason) for answer in answers]


def _one_by_one(campaign, ids, keys, now):
    answers = []
    for customer, key in zip(ids, keys, strict=True):
        try:
            result = claim_coupon(
                campaign=campaign.code,
                customer=customer,
                channel="app_push",
                trigger="scheduled_push",
                idempotency_key=key,
                now=now,
            )
        except ClaimRefused as refusal:
            answers.append((customer, "refused", refusal.reason))
        else:
            answers.append((customer, "granted" if result.created else "replayed", None))
    return answers


def _state(campaign):
    """What the claims left, with the random coupon codes and generated keys left out."""
    campaign.refresh_from_db()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT customer_id, total_grants, day_grants FROM campaigns_customercampaigncounter
            WHERE campaign_id = %s ORDER BY customer_id
            """,
            [campaign.pk],
        )
        counters = cursor.fetchall()
    return {
        "issued": campaign.issued_count,
        "spent": campaign.spent,
        "counters": counters,
        "grants": sorted(
            Grant.objects.filter(campaign=campaign).values_list(
                "customer_id", "idempotency_key", "coupon_count", "cost"
            )
        ),
        "ledger": sorted(
            CouponEvent.objects.filter(campaign=campaign).values_list(
                "kind", "customer_id", "channel_code", "reason", "amount"
            )
        ),
        "audience": sorted(campaign.audience.values_list("customer_id", "treated", "at_start")),
    }
