"""A scheduled campaign can be started now (SPEC §4): its window's start becomes now and its
end stays; refused with every reason when the end is past or the move makes two campaigns
of one audience overlap. Until it starts, a scheduled campaign stays editable."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.operator_time import operator_time
from campaigns.services.claims import claim_coupon
from crm.core.models import AuditEntry

pytestmark = pytest.mark.django_db

CAMPAIGNS = "/api/v1/campaigns/"
DAY = timedelta(days=1)


def state(code: str) -> tuple:
    campaign = Campaign.objects.get(code=code)
    return campaign.status, campaign.claim_starts_at, campaign.claim_ends_at


def test_start_now_opens_the_window_at_once_and_keeps_its_end(
    make_campaign, marketer_api, shopper, app_push
):
    # given a campaign scheduled to open tomorrow
    now = timezone.now()
    ends = now + 8 * DAY
    make_campaign(code="later", status="scheduled", claim_starts_at=now + DAY, claim_ends_at=ends)

    # when
    response = marketer_api.post(f"{CAMPAIGNS}later/start/")

    # then it runs from now until its old end, audited, and grants a claim
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    status, starts, stored_end = state("later")
    assert status == "running"
    assert now <= starts <= timezone.now()
    assert stored_end == ends
    entry = AuditEntry.objects.get(action="campaign.start")
    assert entry.changes["status"] == ["scheduled", "running"]
    claimed = claim_coupon(
        campaign="later",
        customer=shopper.customer_id,
        channel=app_push.code,
        trigger="login",
        idempotency_key="k1",
        now=timezone.now(),
    )
    assert claimed.created is True


def test_start_now_refuses_an_overlap_with_every_reason_and_changes_nothing(
    make_campaign, marketer_api
):
    # given: one campaign running until tomorrow noon on the same audience and business line,
    # and one scheduled right after it, whose end already passed for the template below
    now = timezone.now().replace(microsecond=0)
    make_campaign(
        code="current", status="running", claim_starts_at=now - DAY, claim_ends_at=now + DAY
    )
    make_campaign(
        code="next", status="scheduled", claim_starts_at=now + DAY, claim_ends_at=now + 5 * DAY
    )
    before = state("next")

    # when
    response = marketer_api.post(f"{CAMPAIGNS}next/start/")

    # then
    assert response.status_code == 409
    body = response.json()
    assert body["reason"] == "start_refused"
    assert body["reasons"] == [
        "one policy per audience: campaign current of business line 'snacks' already targets "
        f"this segment from {operator_time(now - DAY)} to {operator_time(now + DAY)}"
    ]
    assert state("next") == before
    assert not AuditEntry.objects.filter(action="campaign.start").exists()


def test_start_now_refuses_a_campaign_whose_window_already_ended(make_campaign, marketer_api):
    # given a scheduled campaign whose end passed before beat could start it
    now = timezone.now()
    make_campaign(
        code="missed", status="scheduled", claim_starts_at=now - 2 * DAY, claim_ends_at=now - DAY
    )
    before = state("missed")

    # when
    response = marketer_api.post(f"{CAMPAIGNS}missed/start/")

    # then
    assert response.status_code == 409
    assert response.json()["reasons"][0].startswith("the claim window ended at ")
    assert state("missed") == before


@pytest.mark.parametrize("status", ["draft", "running", "paused", "finished", "cancelled"])
def test_start_now_is_only_for_scheduled_campaigns(make_campaign, marketer_api, status):
    now = timezone.now()
    make_campaign(code="c", status=status, claim_starts_at=now + DAY, claim_ends_at=now + 2 * DAY)
    before = state("c")

    response = marketer_api.post(f"{CAMPAIGNS}c/start/")

    assert response.status_code == 409
    assert response.json()["reason"] == "invalid_status"
    assert state("c") == before


def test_analyst_cannot_start_a_campaign(make_campaign, analyst_api):
    now = timezone.now()
    make_campaign(
        code="c", status="scheduled", claim_starts_at=now + DAY, claim_ends_at=now + 2 * DAY
    )

    response = analyst_api.post(f"{CAMPAIGNS}c/start/")

    assert response.status_code == 403
    assert state("c")[0] == "scheduled"


def test_the_page_offers_start_now_on_a_scheduled_campaign_and_starts_it(
    make_campaign, client, marketer
):
    # given
    client.force_login(marketer)
    marketer_client = client
    now = timezone.now()
    make_campaign(
        code="later", status="scheduled", claim_starts_at=now + DAY, claim_ends_at=now + 3 * DAY
    )
    page = marketer_client.get(reverse("campaign-detail", args=["later"]))
    assert [action["name"] for action in page.context["actions"]] == ["start", "finish", "cancel"]

    # when
    response = marketer_client.post(
        reverse("campaign-action", args=["later"]), {"action": "start"}, follow=True
    )

    # then
    assert [str(message) for message in response.context["messages"]] == [
        "Campaign later is running."
    ]
    assert state("later")[0] == "running"


def test_a_scheduled_campaign_stays_editable_until_it_starts(make_campaign, marketer_api):
    # given a scheduled campaign
    now = timezone.now().replace(microsecond=0)
    make_campaign(
        code="later", status="scheduled", claim_starts_at=now + DAY, claim_ends_at=now + 3 * DAY
    )

    # when its window start, limits and holdout change (a running one may change none)
    response = marketer_api.patch(
        f"{CAMPAIGNS}later/",
        {
            "claim_starts_at": (now + 2 * DAY).isoformat(),
            "daily_limit_per_customer": 2,
            "holdout_share": "0.100",
        },
        format="json",
    )

    # then
    assert response.status_code == 200, response.json()
    campaign = Campaign.objects.get(code="later")
    assert (
        campaign.status,
        campaign.claim_starts_at,
        campaign.daily_limit_per_customer,
        str(campaign.holdout_share),
    ) == ("scheduled", now + 2 * DAY, 2, "0.100")


def test_an_edit_of_a_scheduled_campaign_is_checked_as_scheduling_checks_it(
    make_campaign, marketer_api
):
    # given a running campaign and a scheduled one after it on the same audience
    now = timezone.now().replace(microsecond=0)
    make_campaign(
        code="current", status="running", claim_starts_at=now - DAY, claim_ends_at=now + DAY
    )
    make_campaign(
        code="next", status="scheduled", claim_starts_at=now + DAY, claim_ends_at=now + 5 * DAY
    )
    before = state("next")

    # when its start moves into the running campaign's window
    response = marketer_api.patch(
        f"{CAMPAIGNS}next/", {"claim_starts_at": now.isoformat()}, format="json"
    )

    # then
    assert response.status_code == 409
    assert response.json()["reason"] == "edit_refused"
    assert state("next") == before
