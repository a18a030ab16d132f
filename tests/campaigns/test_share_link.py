"""The share page of a shared red envelope (SPEC §4): public, claimed with a member's phone
number on the `share` trigger through the campaign's on-site channel, and each repeated
claim of one member decays (the full amount, then amount x ratio, then the floor).

The expected amounts come from SPEC's rule applied here to the campaign's own numbers."""

import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Coupon, CouponEvent, Grant
from crm.models import Channel
from tests.factories import CustomerFactory

FACE = Decimal("10.00")
RATIO = Decimal("0.5")
FLOOR = Decimal("2.00")
PHONE = "13800000001"


def ladder(claim_number: int) -> Decimal:
    """SPEC §4: the 1st claim the full amount, the 2nd amount x ratio, then the floor."""
    if claim_number == 1:
        return FACE
    if claim_number == 2:
        return (FACE * RATIO).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return min(FLOOR, FACE)


@pytest.fixture
def share_page(db):
    return Channel.objects.create(code="share_page", name="Share page", kind="on_site")


@pytest.fixture
def envelope(make_campaign, make_template, share_page):
    now = timezone.now()
    return make_campaign(
        template=make_template(face_value=FACE, threshold=Decimal("0")),
        trigger="share",
        channels=[share_page],
        envelope_kind="shared",
        decay_ratio=RATIO,
        decay_floor=FLOOR,
        limit_per_customer=4,
        daily_limit_per_customer=4,
        claim_starts_at=now - timedelta(hours=1),
        claim_ends_at=now + timedelta(days=2),
    )


@pytest.fixture
def member(db):
    return CustomerFactory(city="Shanghai", phone=PHONE)


def attempt_of(response) -> str:
    return re.search(r'name="attempt" value="([0-9a-f]{32})"', response.content.decode())[1]


def claim(client, envelope, phone, attempt=None):
    url = reverse("share-link", args=[envelope.code])
    attempt = attempt or attempt_of(client.get(url))
    return client.post(url, {"phone": phone, "attempt": attempt})


def test_the_page_shows_what_each_repeated_claim_gets_without_a_login(client, envelope):
    # when
    response = client.get(reverse("share-link", args=[envelope.code]))
    # then
    assert response.status_code == 200
    text = response.content.decode()
    assert envelope.name in text
    for number in (1, 2, 3):
        assert f"<strong>{ladder(number)}</strong>" in text


def test_repeated_claims_of_one_member_decay_to_the_floor(client, envelope, member):
    # when: four claims from four views of the page, the number typed with spaces once
    responses = [claim(client, envelope, phone) for phone in (PHONE, "138 0000 0001", PHONE, PHONE)]
    # then
    assert [r.status_code for r in responses] == [200] * 4
    coupons = list(Coupon.objects.filter(customer=member).order_by("id"))
    assert [c.face_value for c in coupons] == [ladder(n) for n in (1, 2, 3, 4)]
    for response, coupon in zip(responses, coupons, strict=True):
        assert f"You got {coupon.face_value}" in response.content.decode()
        assert coupon.code in response.content.decode()
    grants = Grant.objects.filter(campaign=envelope)
    assert {(g.trigger, g.channel.code) for g in grants} == {("share", "share_page")}


def test_the_same_page_sent_twice_claims_once(client, envelope, member):
    # given
    attempt = attempt_of(client.get(reverse("share-link", args=[envelope.code])))
    # when
    first = claim(client, envelope, PHONE, attempt)
    second = claim(client, envelope, PHONE, attempt)
    # then
    assert (first.status_code, second.status_code) == (200, 200)
    assert "You already got 10.00 from this page" in second.content.decode()
    assert Grant.objects.filter(campaign=envelope).count() == 1


def test_an_unknown_or_shared_number_is_refused_with_the_number_named(client, envelope, member):
    # given
    CustomerFactory(city="Shanghai", phone="13900000009")
    CustomerFactory(city="Shanghai", phone="13900000009")
    # when
    unknown = claim(client, envelope, "13700000000")
    shared = claim(client, envelope, "13900000009")
    blank = claim(client, envelope, " - ")
    # then
    assert unknown.status_code == 400
    assert "No member has the phone number 13700000000." in unknown.content.decode()
    assert shared.status_code == 400
    assert "Several members share this phone number" in shared.content.decode()
    assert blank.status_code == 400
    assert "Type the phone number of your membership." in blank.content.decode()
    assert not Grant.objects.exists()


def test_a_forged_attempt_is_refused(client, envelope, member):
    # when
    response = claim(client, envelope, PHONE, attempt="not-a-token")
    # then
    assert response.status_code == 400
    assert not Grant.objects.exists()


def test_the_limit_answers_409_in_words_and_is_in_the_ledger(client, envelope, member):
    # given
    envelope.limit_per_customer = 2
    envelope.save(update_fields=["limit_per_customer"])
    # when
    answers = [claim(client, envelope, PHONE) for _ in range(3)]
    # then
    assert [a.status_code for a in answers] == [200, 200, 409]
    assert "You have claimed this envelope as often as you may." in answers[2].content.decode()
    refusals = CouponEvent.objects.filter(campaign=envelope, kind="refusal")
    assert list(refusals.values_list("reason", "channel_code")) == [
        ("campaign_limit", "share_page")
    ]


def test_a_paused_envelope_shows_it_is_closed_and_refuses_claims(client, envelope, member):
    # given
    envelope.status = "paused"
    envelope.save(update_fields=["status"])
    url = reverse("share-link", args=[envelope.code])
    # when
    page = client.get(url)
    posted = client.post(url, {"phone": PHONE, "attempt": "0" * 32})
    # then
    assert "This envelope is not open now." in page.content.decode()
    assert posted.status_code == 409
    assert "This envelope is not open." in posted.content.decode()
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "change",
    [{"envelope_kind": "", "decay_ratio": None, "decay_floor": None}, {"trigger": "login"}],
    ids=["not an envelope", "not on share"],
)
def test_a_campaign_without_a_share_link_is_not_found(client, envelope, member, change):
    # given
    for field, value in change.items():
        setattr(envelope, field, value)
    envelope.save()
    url = reverse("share-link", args=[envelope.code])
    # when
    responses = [client.get(url), client.post(url, {"phone": PHONE, "attempt": "0" * 32})]
    # then
    assert [r.status_code for r in responses] == [404, 404]
    assert not Grant.objects.exists()


def test_the_campaign_page_shows_the_share_link(client, envelope, marketer):
    # given
    client.force_login(marketer)
    # when
    response = client.get(reverse("campaign-detail", args=[envelope.code]))
    # then
    assert f"/share/{envelope.code}/" in response.content.decode()
