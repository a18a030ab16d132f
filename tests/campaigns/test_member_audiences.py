"""Member incentives (SPEC §4): a campaign's audience limited to loyalty members, or to some
tiers, in every door: a claim, the audience record a push delivers to, the automatic
grants."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.exceptions import ClaimRefused
from campaigns.models import Grant
from campaigns.services.birthday_gifts import grant_birthday_gifts
from campaigns.services.claims import claim_coupon
from tests.campaigns.pushing import start
from tests.factories import CustomerFactory

# Each customer's (is_member, member_tier).
PEOPLE = {
    "GOLD": (True, "gold"),
    "GOLD-TYPED": (True, " Gold "),
    "SILVER": (True, "silver"),
    "MEMBER": (True, ""),
    "GUEST": (False, ""),
    "GUEST-GOLD": (False, "gold"),  # a tier left over from a lapsed membership
}


@pytest.fixture
def people(db):
    return {
        customer_id: CustomerFactory(
            customer_id=customer_id, is_member=member, member_tier=tier,
            birth_date="1990-06-30", consent={"app_push": True},
        )
        for customer_id, (member, tier) in PEOPLE.items()
    }  # fmt: skip


def allowed(members_only: bool, tiers: list[str]) -> set[str]:
    """SPEC's rule over the fixture: a member, of one of the tiers when some are set."""
    wanted = {tier.strip().lower() for tier in tiers}
    return {
        customer_id
        for customer_id, (member, tier) in PEOPLE.items()
        if (not (members_only or tiers) or member)
        and (not wanted or tier.strip().lower() in wanted)
    }


@pytest.mark.parametrize(
    ("members_only", "tiers"),
    [(False, []), (True, []), (False, ["gold"]), (True, ["GOLD", "silver"])],
)
def test_a_claim_is_refused_outside_the_campaigns_members_or_tiers(
    people, make_campaign, members_only, tiers, as_of
):
    # given
    campaign = make_campaign(members_only=members_only, member_tiers=tiers)

    # when each customer claims
    granted, refused = set(), {}
    for customer_id in PEOPLE:
        try:
            claim_coupon(
                campaign=campaign.code, customer=customer_id, channel="app_push",
                trigger="login", idempotency_key=customer_id, now=as_of,
            )  # fmt: skip
        except ClaimRefused as refusal:
            refused[customer_id] = (refusal.reason, refusal.detail)
        else:
            granted.add(customer_id)

    # then exactly the allowed ones are granted; the others are out of the audience, told why
    assert granted == allowed(members_only, tiers)
    assert {reason for reason, _ in refused.values()} <= {"not_in_audience"}
    if "GUEST" in refused:
        assert refused["GUEST"][1] == (
            "customer GUEST is not a member; the campaign is for members only"
        )
    if tiers and "SILVER" in refused:
        assert (
            refused["SILVER"][1] == "member tier 'silver' is not one of the campaign's tiers gold"
        )


def test_a_member_only_push_records_and_grants_only_the_tiers_members(
    people, push_campaign, marketer, django_capture_on_commit_callbacks, as_of
):
    # given a push for gold members
    campaign = push_campaign(member_tiers=["gold"])

    # when it starts
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # then its audience record and its grants hold the gold members only
    expected = allowed(False, ["gold"])
    assert set(campaign.audience.values_list("customer__customer_id", flat=True)) == expected
    granted = Grant.objects.filter(campaign=campaign).values_list(
        "customer__customer_id", flat=True
    )
    assert set(granted) == expected


def test_birthday_gifts_of_a_members_only_campaign_skip_guests(people, make_campaign, as_of):
    # given a running birthday campaign for members, everyone born on 30 June
    make_campaign(
        trigger="birthday", members_only=True, claim_starts_at=as_of - timedelta(days=3),
        budget=Decimal("100"),
    )  # fmt: skip

    # when the birthday run comes at noon in Shanghai on 30 June
    run = grant_birthday_gifts(now=as_of)

    # then the members got their gift, the guests nothing (not even a refusal)
    assert run.granted == len(allowed(True, []))
    assert set(Grant.objects.values_list("customer__customer_id", flat=True)) == allowed(True, [])
    assert sum(run.refused.values()) == 0
