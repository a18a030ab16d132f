"""Referral gifts (SPEC §4 special): referrals recorded through the API and a CSV file,
and the gift granted to both sides of each referral made after the campaign started."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from campaigns.models import Grant
from campaigns.services.referral_gifts import grant_referral_gifts
from crm.models import Referral
from tests.factories import CustomerFactory


@pytest.fixture
def friends(db):
    return {cid: CustomerFactory(customer_id=cid) for cid in ("ANN", "BEN", "CAT", "DAN")}


def test_referrals_are_recorded_through_the_api_with_each_refusal_named(friends, integration_api):
    # given ANN referred BEN already
    integration_api.post(
        "/api/v1/referrals/bulk/",
        {"items": [{"referrer": "ANN", "referee": "BEN", "referred_at": "2026-11-20"}]},
        format="json",
    )

    # when a batch repeats it, adds one, and holds two bad items; another names BEN again
    answer = integration_api.post(
        "/api/v1/referrals/bulk/",
        {"items": [
            {"referrer": "ANN", "referee": "BEN", "referred_at": "2026-11-21"},
            {"referrer": "ANN", "referee": "CAT", "referred_at": "2026-11-22T09:30:00+08:00"},
            {"referrer": "DAN", "referee": "DAN", "referred_at": "2026-11-22"},
            {"referrer": "EVE", "referee": "ANN", "referred_at": "2026-11-22"},
        ]},
        format="json",
    )  # fmt: skip
    again = integration_api.post(
        "/api/v1/referrals/bulk/",
        {"items": [{"referrer": "DAN", "referee": "BEN", "referred_at": "2026-11-23"}]},
        format="json",
    )

    # then
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {
        "created": 1,
        "updated": 0,
        "unchanged": 1,
        "refused": 2,
        "errors": [
            {"index": 2, "reason": 'referrer "DAN" cannot refer themself'},
            {"index": 3, "reason": 'referrer "EVE" is not a known customer'},
        ],
    }
    assert again.json()["errors"] == [
        {"index": 0, "reason": 'referee "BEN" was already referred by "ANN"'}
    ]
    assert sorted(
        Referral.objects.values_list("referrer__customer_id", "referee__customer_id")
    ) == [("ANN", "BEN"), ("ANN", "CAT")]


def test_referrals_are_imported_from_a_csv_file(friends, tmp_path):
    # given a file with a good row and a bad one
    path = tmp_path / "referrals.csv"
    path.write_text(
        "referrer,referee,referred_at\nCAT,DAN,2026-11-25T10:00:00+08:00\nCAT,NOBODY,2026-11-25\n"
    )

    # when it is imported
    out = StringIO()
    call_command("import_referrals", str(path), stdout=out, stderr=StringIO())

    # then the good row is recorded and the bad one named with its line
    assert list(Referral.objects.values_list("referrer__customer_id", "referee__customer_id")) == [
        ("CAT", "DAN")
    ]
    assert 'referee "NOBODY" is not a known customer' in out.getvalue()


def test_both_sides_of_a_referral_made_after_the_start_are_granted_once(
    friends, make_campaign, as_of
):
    # given a referral campaign that started a day ago (Shanghai customers: every friend)
    campaign = make_campaign(
        trigger="referral", claim_starts_at=as_of - timedelta(days=1), limit_per_customer=5,
        daily_limit_per_customer=5,
    )  # fmt: skip
    people = friends
    Referral.objects.create(
        referrer=people["ANN"], referee=people["BEN"], referred_at=as_of - timedelta(days=2)
    )
    Referral.objects.create(
        referrer=people["ANN"], referee=people["CAT"], referred_at=as_of - timedelta(hours=3)
    )
    Referral.objects.create(
        referrer=people["ANN"], referee=people["DAN"], referred_at=as_of - timedelta(hours=1)
    )

    # when the beat's run comes, twice
    first = grant_referral_gifts(now=as_of)
    second = grant_referral_gifts(now=as_of + timedelta(minutes=1))

    # then the two referrals since the start gave ANN two gifts and CAT and DAN one each;
    # BEN's, made before the start, nothing; nobody twice
    keys = sorted(
        Grant.objects.filter(campaign=campaign).values_list(
            "customer__customer_id", "idempotency_key", "trigger"
        )
    )
    cat, dan = (Referral.objects.get(referee__customer_id=cid).pk for cid in ("CAT", "DAN"))
    assert keys == [
        ("ANN", f"referral-{cat}-referrer", "referral"),
        ("ANN", f"referral-{dan}-referrer", "referral"),
        ("CAT", f"referral-{cat}-referee", "referral"),
        ("DAN", f"referral-{dan}-referee", "referral"),
    ]
    assert (first.granted, second.granted) == (4, 0)


def test_the_claims_api_refuses_the_referral_trigger(friends, make_campaign, integration_api):
    # given
    campaign = make_campaign(trigger="referral")

    # when the shop tries to claim it
    answer = integration_api.post(
        "/api/v1/claims/",
        {"campaign": campaign.code, "customer": "ANN", "channel": "app_push",
         "trigger": "referral", "idempotency_key": "k"},
        format="json",
    )  # fmt: skip

    # then it is refused as input: OpsCRM grants it itself
    assert answer.status_code == 400
    assert "trigger" in answer.json()
