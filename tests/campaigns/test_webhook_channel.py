"""The webhook channel backend against a real local HTTP server that fails, then times out,
then recovers: retries with capped backoff, each failure recorded on its message, and the
grant standing whatever the gateway did (SPEC §4)."""

import pytest

from campaigns.models import Grant, Message
from tests.campaigns.gateways import Gateway
from tests.campaigns.pushing import start
from tests.factories import CustomerFactory


@pytest.fixture
def gateway_for(settings):
    gateways = []

    def make(script, *, retries=3):
        gateway = Gateway(script)
        gateways.append(gateway)
        settings.CHANNEL_BACKENDS = {
            "default": {"BACKEND": "campaigns.channel_backends.logging.LoggingBackend"},
            "app_push": {
                "BACKEND": "campaigns.channel_backends.webhook.WebhookBackend",
                "URL": gateway.url,
                "TIMEOUT": 0.3,
                "RETRIES": retries,
                "BACKOFF": 0.1,
                "BACKOFF_MAX": 0.15,
            },
        }
        return gateway

    yield make
    for gateway in gateways:
        gateway.close()


def test_a_gateway_that_fails_then_times_out_then_recovers_gets_the_message_on_the_third_try(
    gateway_for, push_campaign, marketer, django_capture_on_commit_callbacks, as_of
):
    # given a gateway answering 503, then too late, then 200
    gateway = gateway_for([503, "hang", 200])
    customer = CustomerFactory(customer_id="G1", consent={"app_push": True})
    campaign = push_campaign()

    # when the campaign pushes
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # then the message went on the third attempt, both failures recorded on it
    message = Message.objects.get(campaign=campaign, channel__code="app_push")
    assert (message.status, message.attempts) == ("sent", 3)
    assert message.last_error == "timed out after 0.3 s"
    assert len(gateway.requests) == 3
    coupon = Grant.objects.get(campaign=campaign, customer=customer).coupons.get()
    assert gateway.requests[-1] == {
        "message_id": message.pk,
        "campaign": campaign.code,
        "customer": "G1",
        "channel": "app_push",
        "coupons": [coupon.code],
    }
    # and the waits between attempts grew and were capped (0.1 s, then 0.15 s not 0.2 s)
    first_wait = gateway.arrivals[1] - gateway.arrivals[0]
    assert 0.1 <= first_wait < 0.3


def test_a_gateway_down_for_every_retry_fails_the_message_and_the_grant_moves_to_one_that_worked(
    gateway_for, push_campaign, marketer, django_capture_on_commit_callbacks, as_of
):
    # given a gateway that answers 500 every time, and WeChat consented too
    gateway = gateway_for([500], retries=2)
    customer = CustomerFactory(customer_id="G2", consent={"app_push": True, "wechat_oa": True})
    campaign = push_campaign()

    # when the campaign pushes
    start(campaign, marketer, as_of, django_capture_on_commit_callbacks)

    # then the app push failed after 1 + 2 attempts, each recorded, and is not sent again
    message = Message.objects.get(campaign=campaign, channel__code="app_push")
    assert (message.status, message.attempts, message.last_error) == ("failed", 3, "HTTP 500")
    assert message.failed_at is not None
    assert message.sent_at is None
    assert len(gateway.requests) == 3
    # and the coupon stands, attributed to WeChat, the first channel that reached the customer
    grant = Grant.objects.get(campaign=campaign, customer=customer)
    assert grant.channel.code == "wechat_oa"
    assert set(grant.coupons.values_list("events__channel_code", flat=True)) == {"wechat_oa"}
