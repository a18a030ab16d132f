"""Partner coupons (cross-industry cooperation): their codes come from the partner's
platform in real time, here a real local HTTP server that is up, down or slow.

The promises checked: no grant the customer can see without its code (customer reads,
redemption, messages wait), no code without a grant (the request id is our coupon's
reference, and a grant is cancelled only when no code came), bounded retries, and a grant
whose code never comes cancelled with its stock, budget and limits given back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Coupon, CouponEvent, CustomerCampaignCounter, Message
from campaigns.services.push_delivery import sweep_pushes
from crm.models import Channel
from tests.campaigns.gateways import Gateway
from tests.campaigns.pushing import start
from tests.factories import CustomerFactory


def partner_code(body: dict) -> dict:
    return {"code": f"BBQ-{body['request_id']}"}


@pytest.fixture
def partner_for(settings):
    """A partner platform (partner_bbq) answering `script`; at most 1 retry per round."""
    servers = []

    def make(script):
        server = Gateway(script, answer=partner_code)
        servers.append(server)
        settings.PARTNER_PLATFORMS = {
            "partner_bbq": {
                "URL": server.url,
                "TIMEOUT": 0.3,
                "RETRIES": 1,
                "BACKOFF": 0.01,
                "BACKOFF_MAX": 0.01,
            }
        }
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def bbq_coupon(make_template, db):
    partner = Channel.objects.create(code="partner_bbq", name="BBQ house", kind="partner")
    return make_template(
        code="bbq-20-off", name="20 off at the BBQ house", face_value=Decimal("20.00"),
        threshold=Decimal("0"), cost_bearer="partner", partner=partner,
    )  # fmt: skip


@pytest.fixture
def claim_campaign(make_campaign, bbq_coupon):
    """Open now: the claim API decides at the real clock."""
    now = timezone.now()
    return make_campaign(
        template=bbq_coupon,
        stock=10,
        budget=Decimal("200.00"),
        claim_starts_at=now - timedelta(days=1),
        claim_ends_at=now + timedelta(days=6),
    )


def claim(api, campaign, key="k1", customer="SH-1"):
    return api.post(
        "/api/v1/claims/",
        {"campaign": campaign.code, "customer": customer, "channel": "app_push",
         "trigger": "login", "idempotency_key": key},
        format="json",
    )  # fmt: skip


def test_a_claim_answers_the_partners_code_when_its_platform_is_up(
    partner_for, claim_campaign, shopper, integration_api
):
    # given a partner platform that answers
    server = partner_for([200])

    # when the shop claims
    answer = claim(integration_api, claim_campaign)

    # then the coupon carries the partner's code, asked once with our reference
    assert answer.status_code == 201, answer.json()
    coupon = Coupon.objects.get()
    assert answer.json()["code"] == f"BBQ-{coupon.code}"
    assert server.requests == [
        {"request_id": coupon.code, "campaign": claim_campaign.code, "template": "bbq-20-off",
         "customer": "SH-1", "valid_until": coupon.valid_until.isoformat()}
    ]  # fmt: skip
    assert (coupon.status, coupon.partner_attempts) == ("unused", 1)
    mine = integration_api.get("/api/v1/customers/SH-1/coupons/").json()["results"]
    assert [c["code"] for c in mine] == [f"BBQ-{coupon.code}"]
    # and the same key again replays it with the same code, without asking again
    again = claim(integration_api, claim_campaign)
    assert (again.status_code, again.json()["code"]) == (200, f"BBQ-{coupon.code}")
    assert len(server.requests) == 1


@pytest.mark.parametrize("failure", [500, "hang"], ids=["down", "slow"])
def test_a_claim_whose_partner_is_down_or_slow_grants_nothing_and_can_be_retried(
    failure, partner_for, claim_campaign, shopper, integration_api
):
    # given a partner platform that fails or answers after the timeout
    server = partner_for([failure])

    # when the shop claims
    answer = claim(integration_api, claim_campaign)

    # then 503, after two attempts (one retry), and nothing is left granted
    assert answer.status_code == 503
    assert answer.json()["reason"] == "partner_unavailable"
    assert len(server.requests) == 2
    campaign = Campaign.objects.get(pk=claim_campaign.pk)
    assert (campaign.issued_count, campaign.spent) == (0, Decimal("0.00"))
    counter = CustomerCampaignCounter.objects.get(campaign=campaign)
    assert (counter.total_grants, counter.day_grants) == (0, 0)
    assert Coupon.objects.get().status == "revoked"
    assert integration_api.get("/api/v1/customers/SH-1/coupons/").json()["count"] == 0
    assert list(CouponEvent.objects.order_by("pk").values_list("kind", "reason", "amount")) == [
        ("grant", "", Decimal("20.00")),
        ("revoke", "partner_code_missing", Decimal("-20.00")),
    ]

    # when the platform recovers and the shop retries with the same key
    server.script = [200]
    retry = claim(integration_api, claim_campaign)

    # then the claim is decided anew and granted with the partner's code
    assert retry.status_code == 201, retry.json()
    fresh = Coupon.objects.get(status="unused")
    assert retry.json()["code"] == f"BBQ-{fresh.code}"
    campaign.refresh_from_db()
    assert (campaign.issued_count, campaign.spent) == (1, Decimal("20.00"))


def test_a_pushed_partner_coupon_stays_invisible_until_its_code_comes_and_its_message_waits(
    partner_for,
    push_campaign,
    bbq_coupon,
    marketer,
    integration_api,
    as_of,
    settings,
    django_capture_on_commit_callbacks,
):
    # given a push of the BBQ coupon while the partner's platform is down
    server = partner_for([503])
    CustomerFactory(customer_id="P1", consent={"app_push": True})
    campaign = push_campaign(template=bbq_coupon)
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # then the grant holds its stock, but nobody sees the coupon and the message waits
    coupon = Coupon.objects.get(campaign=campaign)
    assert (coupon.status, coupon.partner_attempts) == ("pending", 1)
    assert Campaign.objects.get(pk=campaign.pk).issued_count == 1
    assert integration_api.get("/api/v1/customers/P1/coupons/").json()["count"] == 0
    assert Message.objects.get(campaign=campaign, channel__code="app_push").status == "queued"
    redeemed = integration_api.post(
        "/api/v1/redemptions/",
        {"code": coupon.code, "customer": "P1", "order_id": "O1", "amount": "50.00",
         "items": [], "store": "", "city": "Shanghai"},
        format="json",
    )  # fmt: skip
    assert (redeemed.status_code, redeemed.json()["reason"]) == (409, "unknown_code")

    # when the platform recovers and the sweeper runs
    server.script = [200]
    sweep_pushes(now=as_of + timedelta(seconds=30))

    # then the coupon shows with the partner's code and the message goes, carrying it
    coupon.refresh_from_db()
    assert (coupon.status, coupon.partner_code) == ("unused", f"BBQ-{coupon.code}")
    mine = integration_api.get("/api/v1/customers/P1/coupons/").json()["results"]
    assert [c["code"] for c in mine] == [f"BBQ-{coupon.code}"]
    message = Message.objects.get(campaign=campaign, channel__code="app_push")
    assert message.status == "sent"
    # the platform was asked with the same request id every time: one code, never two
    assert {request["request_id"] for request in server.requests} == {coupon.code}


def test_a_pushed_grant_whose_code_never_comes_is_cancelled_after_the_last_round(
    partner_for,
    push_campaign,
    bbq_coupon,
    marketer,
    as_of,
    settings,
    django_capture_on_commit_callbacks,
):
    # given three rounds at most, and a platform that never answers in time
    settings.PARTNER_CODE_MAX_ROUNDS = 3
    server = partner_for(["hang"])
    CustomerFactory(customer_id="P2", consent={"app_push": True})
    campaign = push_campaign(template=bbq_coupon, stock=5, budget=Decimal("100.00"))
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # when the sweeper runs twice more
    first = sweep_pushes(now=as_of + timedelta(seconds=30))
    second = sweep_pushes(now=as_of + timedelta(seconds=60))

    # then the third round cancels the grant: stock and budget back, the message suppressed
    assert (first["cancelled_grants"], second["cancelled_grants"]) == (0, 1)
    assert len(server.requests) == 3 * 2  # three rounds of two attempts, then no more
    sweep_pushes(now=as_of + timedelta(seconds=90))
    assert len(server.requests) == 6
    coupon = Coupon.objects.get(campaign=campaign)
    assert (coupon.status, coupon.partner_code) == ("revoked", "")
    campaign.refresh_from_db()
    assert (campaign.issued_count, campaign.spent) == (0, Decimal("0.00"))
    message = Message.objects.get(campaign=campaign, channel__code="app_push")
    assert (message.status, message.reason) == ("suppressed", "grant_cancelled")
