"""Support staff revoke and reissue coupons; both go through the engine and are audited."""

import pytest

from campaigns.exceptions import CampaignActionRefused
from campaigns.models import Coupon, CustomerCampaignCounter, HarassmentSettings
from campaigns.services.claims import claim_coupon
from campaigns.services.support import reissue_coupon, revoke_coupon
from crm.core.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def granted(make_campaign, shopper, app_push, as_of):
    campaign = make_campaign(stock=1, limit_per_customer=1)
    result = claim_coupon(
        campaign=campaign.code,
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k",
        now=as_of,
    )
    return result.coupons[0]


def test_revoke_gives_the_grant_back(granted, support, as_of):
    # when
    revoke_coupon(coupon=granted, actor=support, reason="customer complaint #88", now=as_of)
    # then
    granted.refresh_from_db()
    granted.campaign.refresh_from_db()
    counter = CustomerCampaignCounter.objects.get()
    assert granted.status == "revoked"
    assert (granted.campaign.issued_count, str(granted.campaign.spent)) == (0, "0.00")
    assert (counter.total_grants, counter.day_grants) == (0, 0)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.reason, entry.actor) == (
        "coupon.revoke",
        granted.code,
        "customer complaint #88",
        support,
    )


def test_revoke_requires_a_reason_and_an_unused_coupon(granted, support, as_of):
    with pytest.raises(CampaignActionRefused) as refusal:
        revoke_coupon(coupon=granted, actor=support, reason="  ", now=as_of)
    assert refusal.value.reason == "reason_required"
    revoke_coupon(coupon=granted, actor=support, reason="duplicate", now=as_of)
    with pytest.raises(CampaignActionRefused) as refusal:
        revoke_coupon(coupon=granted, actor=support, reason="again", now=as_of)
    assert refusal.value.detail == f"coupon {granted.code} is revoked, only unused coupons"
    assert AuditEntry.objects.count() == 1


def test_reissue_replaces_the_coupon_within_every_limit(granted, support, as_of):
    # given: stock 1 and a 24-hour template interval; both would refuse a second coupon
    HarassmentSettings.objects.filter(pk=1).update(min_hours_between_same_template=24)
    # when
    result = reissue_coupon(coupon=granted, actor=support, reason="lost in app", now=as_of)
    # then
    granted.refresh_from_db()
    new = result.coupons[0]
    assert (granted.status, new.status, new.code != granted.code) == ("revoked", "unused", True)
    assert Coupon.objects.filter(status="unused").count() == 1
    granted.campaign.refresh_from_db()
    assert granted.campaign.issued_count == 1
    assert list(AuditEntry.objects.order_by("pk").values_list("action", flat=True)) == [
        "coupon.revoke",
        "coupon.reissue",
    ]
