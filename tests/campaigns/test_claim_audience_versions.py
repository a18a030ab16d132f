"""A kept claim audience follows every segment edit, whatever the clocks of the app servers
that made the edits: segments are versioned by the database (segments_version)."""

from datetime import UTC, datetime

import pytest

from campaigns.exceptions import ClaimRefused
from campaigns.services.claims import claim_coupon
from segments.models import Segment
from segments.selectors import segments_version
from segments.services.definitions import create_segment, update_segment
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

BEIJING_RULES = {"field": "city", "op": "in", "value": ["Beijing"]}


def claim(campaign, customer_id, channel, now, *, key):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer_id,
        channel=channel.code,
        trigger="login",
        idempotency_key=key,
        now=now,
    )


def test_an_edit_from_a_server_whose_clock_is_behind_still_reaches_a_kept_audience(
    make_campaign, shanghai, app_push, as_of
):
    # given: another server, its clock 74 years ahead, last wrote a segment
    ahead = create_segment(name="VIP", rules=BEIJING_RULES, actor=None, now=as_of)
    Segment.objects.filter(pk=ahead.pk).update(updated_at=datetime(2100, 1, 1, tzinfo=UTC))
    # ... and the Shanghai audience is kept after a first claim
    campaign = make_campaign()
    CustomerFactory(customer_id="SH-1", city="Shanghai")
    CustomerFactory(customer_id="SH-2", city="Shanghai")
    assert claim(campaign, "SH-1", app_push, as_of, key="first").created is True

    # when: this server, its clock right, moves the audience to Beijing
    update_segment(segment=shanghai, rules=BEIJING_RULES, actor=None, now=as_of)

    # then: the next claim is decided by the edited rules
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, "SH-2", app_push, as_of, key="second")
    assert refusal.value.reason == "not_in_audience"


def test_an_edit_stamped_far_in_the_past_still_reaches_a_kept_audience(
    make_campaign, shanghai, app_push, as_of
):
    # given: the Shanghai audience, kept after a first claim
    campaign = make_campaign()
    CustomerFactory(customer_id="SH-1", city="Shanghai")
    CustomerFactory(customer_id="SH-2", city="Shanghai")
    assert claim(campaign, "SH-1", app_push, as_of, key="first").created is True

    # when: the audience is moved to Beijing by a caller whose clock says 2001
    update_segment(
        segment=shanghai, rules=BEIJING_RULES, actor=None, now=datetime(2001, 1, 1, tzinfo=UTC)
    )

    # then
    with pytest.raises(ClaimRefused) as refusal:
        claim(campaign, "SH-2", app_push, as_of, key="second")
    assert refusal.value.reason == "not_in_audience"


def test_every_change_of_a_definition_moves_the_version_forward(shanghai, as_of):
    # given
    versions = [segments_version()]

    # when: a change, a change that changes nothing, a new segment and another change
    update_segment(segment=shanghai, name="Shanghai shoppers", actor=None, now=as_of)
    versions.append(segments_version())
    update_segment(segment=shanghai, name="Shanghai shoppers", actor=None, now=as_of)
    versions.append(segments_version())
    create_segment(name="Beijing", rules=BEIJING_RULES, actor=None, now=as_of)
    versions.append(segments_version())
    update_segment(segment=shanghai, rules=BEIJING_RULES, actor=None, now=as_of)
    versions.append(segments_version())

    # then each write moved it forward, and the no-op left it
    assert versions[0] < versions[1] == versions[2] < versions[3] < versions[4]
