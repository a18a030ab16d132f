"""The audience record (SPEC §4): when a campaign starts running it records the segment's
members then, each treated or in the holdout by a stable hash of campaign and customer; a
customer who joins the segment later and claims is added at that claim."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.exceptions import ClaimRefused
from campaigns.models import AudienceMember, Campaign
from campaigns.services.claims import claim_coupon
from campaigns.services.lifecycle import advance_campaigns, pause_campaign, resume_campaign
from tests.conftest import make_user
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def held_out(campaign: Campaign, customer) -> bool:
    """SPEC §4's draw, computed here: the first 8 bytes of sha256("holdout:<campaign
    pk>:<customer pk>") as an unsigned integer, below holdout_share * 2^64."""
    digest = hashlib.sha256(f"holdout:{campaign.pk}:{customer.pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < campaign.holdout_share * 2**64


def record_of(campaign: Campaign) -> dict[str, tuple]:
    return {
        member.customer.customer_id: (member.treated, member.at_start)
        for member in AudienceMember.objects.filter(campaign=campaign).select_related("customer")
    }


@pytest.fixture
def people(db):
    """Forty customers in Shanghai (the segment), twenty elsewhere: enough that a 50% holdout
    draws both groups among them (five were all treated in 1 run of 32, as the draw says)."""
    inside = [CustomerFactory(customer_id=f"S{n:02d}", city="Shanghai") for n in range(40)]
    outside = [CustomerFactory(customer_id=f"B{n:02d}", city="Beijing") for n in range(20)]
    return inside, outside


def test_starting_a_campaign_records_the_members_then_each_in_the_hashed_group(
    make_campaign, marketer_api, people
):
    # given a scheduled campaign with a 30% holdout
    inside, _ = people
    now = timezone.now()
    campaign = make_campaign(
        code="later",
        status="scheduled",
        holdout_share=Decimal("0.300"),
        claim_starts_at=now + DAY,
        claim_ends_at=now + 8 * DAY,
    )

    # when it is started now
    response = marketer_api.post("/api/v1/campaigns/later/start/")

    # then every Shanghai customer is recorded, in the group the hash gives, and nobody else
    campaign.refresh_from_db()
    expected = {c.customer_id: (not held_out(campaign, c), True) for c in inside}
    assert response.status_code == 200
    assert record_of(campaign) == expected
    assert 0 < sum(not treated for treated, _ in expected.values()) < len(inside)
    assert campaign.audience_recorded_at == campaign.claim_starts_at
    assert set(AudienceMember.objects.values_list("joined_at", flat=True)) == {
        campaign.claim_starts_at
    }


def test_beat_starting_a_scheduled_campaign_records_its_audience(make_campaign, people, as_of):
    # given a campaign scheduled to open an hour before the beat's tick
    inside, _ = people
    campaign = make_campaign(
        status="scheduled",
        holdout_share=Decimal("0.500"),
        claim_starts_at=as_of - timedelta(hours=1),
        claim_ends_at=as_of + 6 * DAY,
    )

    # when
    advanced = advance_campaigns(now=as_of)

    # then
    campaign.refresh_from_db()
    assert (advanced["started"], campaign.status) == (1, "running")
    assert record_of(campaign) == {c.customer_id: (not held_out(campaign, c), True) for c in inside}


def test_a_customer_who_joins_later_is_added_at_the_claim_and_the_record_never_changes_group(
    make_campaign, people, as_of, app_push
):
    # given a recorded campaign (started by beat), then one member moves away and two
    # customers move to Shanghai: one of each group
    inside, outside = people
    campaign = make_campaign(
        status="scheduled",
        holdout_share=Decimal("0.500"),
        claim_starts_at=as_of - timedelta(hours=1),
        claim_ends_at=as_of + 6 * DAY,
    )
    advance_campaigns(now=as_of)
    inside[0].city = "Wuhan"
    inside[0].save()
    newcomer = next(c for c in outside if not held_out(campaign, c))
    held = next(c for c in outside if held_out(campaign, c))
    for customer in (newcomer, held):
        customer.city = "Shanghai"
        customer.save()

    # when both claim (the held-out one is refused)
    claim_coupon(
        campaign=campaign.code,
        customer=newcomer.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="n1",
        now=as_of,
    )
    with pytest.raises(ClaimRefused) as refused:
        claim_coupon(
            campaign=campaign.code,
            customer=held.customer_id,
            channel=app_push.code,
            trigger="login",
            idempotency_key="h1",
            now=as_of,
        )

    # then both are added, in their groups, not at the start; the one who left stays
    record = record_of(campaign)
    assert refused.value.reason == "holdout"
    assert record[newcomer.customer_id] == (True, False)
    assert record[held.customer_id] == (False, False)
    assert record[inside[0].customer_id] == (not held_out(campaign, inside[0]), True)
    assert len(record) == len(inside) + 2


def test_a_paused_and_resumed_campaign_keeps_its_first_record(
    make_campaign, people, as_of, marketer
):
    # given a recorded campaign, paused; then a new customer joins the segment
    inside, _ = people
    campaign = make_campaign(
        status="scheduled",
        claim_starts_at=as_of - timedelta(hours=1),
        claim_ends_at=as_of + 6 * DAY,
    )
    advance_campaigns(now=as_of)
    pause_campaign(campaign=campaign, actor=marketer, now=as_of)
    CustomerFactory(customer_id="NEW", city="Shanghai")

    # when
    resume_campaign(campaign=campaign, actor=marketer, now=as_of + timedelta(hours=1))

    # then the record is the one taken at the start
    campaign.refresh_from_db()
    assert sorted(record_of(campaign)) == sorted(c.customer_id for c in inside)
    assert campaign.audience_recorded_at == as_of


def test_a_claim_by_a_recorded_member_adds_no_second_row(make_campaign, people, as_of, app_push):
    # given
    inside, _ = people
    campaign = make_campaign(
        status="scheduled",
        claim_starts_at=as_of - timedelta(hours=1),
        claim_ends_at=as_of + 6 * DAY,
    )
    advance_campaigns(now=as_of)

    # when the same member claims twice
    for key in ("a", "b"):
        claim_coupon(
            campaign=campaign.code,
            customer=inside[1].customer_id,
            channel=app_push.code,
            trigger="login",
            idempotency_key=key,
            now=as_of + timedelta(days=int(key == "b")),
        )

    # then
    rows = AudienceMember.objects.filter(campaign=campaign, customer=inside[1])
    assert list(rows.values_list("treated", "at_start")) == [(True, True)]


def test_the_page_and_the_api_show_the_record(make_campaign, people, as_of, client, marketer):
    # given a campaign with a 50% holdout, started by beat
    inside, _ = people
    campaign = make_campaign(
        code="half",
        status="scheduled",
        holdout_share=Decimal("0.500"),
        claim_starts_at=as_of - timedelta(hours=1),
        claim_ends_at=as_of + 6 * DAY,
    )
    advance_campaigns(now=as_of)
    holdout = sum(held_out(campaign, c) for c in inside)
    client.force_login(marketer)

    # when
    page = client.get("/campaigns/half/").content.decode()
    answer = client.get("/api/v1/campaigns/half/").json()

    # then (the page in the operator's zone, Asia/Shanghai: UTC+8)
    assert (
        f"40 members: {40 - holdout} treated, {holdout} in the holdout "
        '<small class="muted">(recorded at the start, 2026-06-30 20:00)</small>'
    ) in page
    assert answer["audience_recorded_at"] == "2026-06-30T20:00:00+08:00"


def test_support_finds_a_customer_s_group_in_the_admin(make_campaign, people, as_of, client):
    # given a recorded campaign with a 50% holdout, and a support user
    inside, _ = people
    campaign = make_campaign(
        code="half",
        status="scheduled",
        holdout_share=Decimal("0.500"),
        claim_starts_at=as_of - timedelta(hours=1),
        claim_ends_at=as_of + 6 * DAY,
    )
    advance_campaigns(now=as_of)
    held = next(c for c in inside if held_out(campaign, c))
    client.force_login(make_user("support"))

    # when support searches the audience records by the customer's id
    page = client.get("/admin/campaigns/audiencemember/", {"q": held.customer_id})

    # then one row: that customer, in the holdout (the admin's "no" icon for treated)
    body = page.content.decode()
    assert page.status_code == 200
    assert "1 audience member" in body
    assert body.count('alt="False"') == 1
