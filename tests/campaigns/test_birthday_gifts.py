"""Birthday benefits (SPEC §4): a running `birthday` campaign grants its audience's members
on their birthday in the operator's time zone, once a year; 29 February birthdays on
28 February in other years; the claims API cannot claim them."""

import hashlib
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from campaigns.models import Coupon, Grant
from campaigns.services.birthday_gifts import grant_birthday_gifts
from campaigns.tasks import grant_birthday_gifts_task
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def birthday_today(born: date | None, local_day: date) -> bool:
    """SPEC §4 by hand: same month and day; 29 February on 28 February of other years."""
    if born is None:
        return False
    if (born.month, born.day) == (local_day.month, local_day.day):
        return True
    leap = local_day.year % 4 == 0 and (local_day.year % 100 != 0 or local_day.year % 400 == 0)
    return (
        (born.month, born.day) == (2, 29)
        and (local_day.month, local_day.day) == (2, 28)
        and (not leap)
    )


def granted() -> list[tuple[str, str]]:
    return sorted(Grant.objects.values_list("customer__customer_id", "idempotency_key"))


@pytest.fixture
def birthday_campaign(make_campaign):
    def make(starts: datetime, ends: datetime, **overrides):
        return make_campaign(
            code="birthday",
            trigger="birthday",
            claim_starts_at=starts,
            claim_ends_at=ends,
            daily_limit_per_customer=1,
            limit_per_customer=10,
            **overrides,
        )

    return make


def test_members_born_on_the_operator_s_day_get_the_gift_once(birthday_campaign):
    # given 17:00 UTC on 30 June, which is already 1 July in Shanghai
    now = datetime(2026, 6, 30, 17, 0, tzinfo=UTC)
    birthday_campaign(now - timedelta(days=10), now + timedelta(days=10))
    people = [
        CustomerFactory(customer_id="JULY1", city="Shanghai", birth_date=date(1990, 7, 1)),
        CustomerFactory(customer_id="JUNE30", city="Shanghai", birth_date=date(1985, 6, 30)),
        CustomerFactory(customer_id="AWAY", city="Beijing", birth_date=date(2000, 7, 1)),
        CustomerFactory(customer_id="NOBIRTH", city="Shanghai", birth_date=None),
    ]

    # when the hourly task runs twice that day
    first = grant_birthday_gifts(now=now)
    second = grant_birthday_gifts(now=now + timedelta(hours=1))

    # then only the Shanghai member born on 1 July gets it, once, with this year's key
    local_day = now.astimezone(SHANGHAI).date()
    expected = [
        (c.customer_id, f"birthday-2026-{c.customer_id}")
        for c in people
        if c.city == "Shanghai" and birthday_today(c.birth_date, local_day)
    ]
    assert expected == [("JULY1", "birthday-2026-JULY1")]
    assert granted() == expected
    assert (first.granted, second.granted, dict(first.refused), dict(second.refused)) == (
        1,
        0,
        {},
        {},
    )
    assert Coupon.objects.get().customer.customer_id == "JULY1"


def test_a_29_february_birthday_is_celebrated_on_28_february_in_other_years(birthday_campaign):
    # given a campaign over two years and a customer born on 29 February
    starts = datetime(2027, 1, 1, tzinfo=SHANGHAI)
    birthday_campaign(starts, datetime(2029, 1, 1, tzinfo=SHANGHAI))
    CustomerFactory(customer_id="LEAP", city="Shanghai", birth_date=date(2004, 2, 29))
    noon = {day: datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI) for day in (
        date(2027, 2, 28), date(2027, 3, 1), date(2028, 2, 28), date(2028, 2, 29)
    )}  # fmt: skip

    # when the task runs at noon on each of those days
    for moment in noon.values():
        grant_birthday_gifts(now=moment)

    # then: 2027 (no 29 February) on the 28th; 2028 (leap) on the 29th only
    expected = [
        ("LEAP", f"birthday-{day.year}-LEAP")
        for day in noon
        if birthday_today(date(2004, 2, 29), day)
    ]
    assert expected == [("LEAP", "birthday-2027-LEAP"), ("LEAP", "birthday-2028-LEAP")]
    assert granted() == expected
    assert list(Grant.objects.order_by("granted_at").values_list("granted_at", flat=True)) == [
        noon[date(2027, 2, 28)],
        noon[date(2028, 2, 29)],
    ]


def test_the_holdout_gets_nothing_and_no_refusal_is_written_for_it(birthday_campaign):
    # given a campaign holding out half of its audience, and twenty members born today
    now = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    campaign = birthday_campaign(
        now - timedelta(days=1), now + timedelta(days=1), holdout_share=Decimal("0.500")
    )
    people = [
        CustomerFactory(customer_id=f"B{n:02d}", city="Shanghai", birth_date=date(1990, 7, 1))
        for n in range(20)
    ]

    # when
    run = grant_birthday_gifts(now=now)

    # then the treated ones (the engine's hash, computed here) get it; no refusal at all
    def held_out(customer) -> bool:
        digest = hashlib.sha256(f"holdout:{campaign.pk}:{customer.pk}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < campaign.holdout_share * 2**64

    treated = sorted(c.customer_id for c in people if not held_out(c))
    assert 0 < len(treated) < 20
    assert sorted(customer for customer, _ in granted()) == treated
    assert (run.granted, dict(run.refused)) == (len(treated), {})


def test_a_gift_refused_by_the_engine_is_counted_by_reason(birthday_campaign):
    # given stock for one gift and two members born today
    now = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    birthday_campaign(now - timedelta(days=1), now + timedelta(days=1), stock=1)
    for customer_id in ("A", "B"):
        CustomerFactory(customer_id=customer_id, city="Shanghai", birth_date=date(1990, 7, 1))

    # when
    run = grant_birthday_gifts(now=now)

    # then the first (by customer id) gets it, the second is refused for stock
    assert granted() == [("A", "birthday-2026-A")]
    assert (run.granted, dict(run.refused)) == (1, {"out_of_stock": 1})


def test_the_task_runs_the_service_at_now(birthday_campaign):
    # given a campaign open now and a member born today (the operator's day)
    now = timezone.now()
    birthday_campaign(now - timedelta(days=1), now + timedelta(days=1))
    today = timezone.localdate(now)
    born = date(2000, today.month, today.day)  # 2000 is a leap year: any day exists
    CustomerFactory(customer_id="TODAY", city="Shanghai", birth_date=born)

    # when
    result = grant_birthday_gifts_task.apply().get()

    # then
    assert result == {"granted": 1, "refused": {}}


def test_the_claims_api_refuses_the_birthday_trigger(birthday_campaign, integration_api):
    # given
    now = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    birthday_campaign(now - timedelta(days=1), now + timedelta(days=1))
    CustomerFactory(customer_id="A", city="Shanghai", birth_date=date(1990, 7, 1))

    # when
    response = integration_api.post(
        "/api/v1/claims/",
        {
            "campaign": "birthday",
            "customer": "A",
            "channel": "app_push",
            "trigger": "birthday",
            "idempotency_key": "k",
        },
        format="json",
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"trigger": ['"birthday" is not a valid choice.']}
    assert granted() == []
