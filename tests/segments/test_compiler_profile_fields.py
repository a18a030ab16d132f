"""Profile fields compiled to SQL: each operator, its boundary, and NOT keeping unknowns."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.models import Customer, Tag
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


def customers(**by_id) -> None:
    for customer_id, fields in by_id.items():
        CustomerFactory(customer_id=customer_id, **fields)


def test_gender_matches_by_value_and_unknown(matching):
    # given
    customers(F={"gender": "female"}, M={"gender": "male"}, U={"gender": ""})
    # then
    assert matching({"field": "gender", "op": "eq", "value": "female"}) == {"F"}
    assert matching({"field": "gender", "op": "in", "value": ["female", "male"]}) == {"F", "M"}
    assert matching({"field": "gender", "op": "ne", "value": "female"}) == {"M", "U"}
    assert matching({"field": "gender", "op": "is_null", "value": True}) == {"U"}
    assert matching({"field": "gender", "op": "is_null", "value": False}) == {"F", "M"}


@pytest.mark.parametrize(
    ("birth_date", "expected_age"),
    [
        pytest.param(date(1996, 6, 30), 30, id="birthday-today"),
        pytest.param(date(1996, 7, 1), 29, id="birthday-tomorrow"),
        pytest.param(date(1995, 7, 1), 30, id="day-before-31st-birthday"),
    ],
)
def test_age_is_whole_years_on_the_as_of_date(matching, as_of, birth_date, expected_age):
    # given: as_of is 30 June 2026 in Shanghai
    customers(C={"birth_date": birth_date})
    # then
    assert matching({"field": "age", "op": "eq", "value": expected_age}) == {"C"}
    assert matching({"field": "age", "op": "gte", "value": expected_age + 1}) == set()
    assert matching({"field": "age", "op": "lte", "value": expected_age}) == {"C"}
    assert matching({"field": "age", "op": "lt", "value": expected_age}) == set()
    assert matching({"field": "age", "op": "gt", "value": expected_age - 1}) == {"C"}


def test_age_uses_the_calendar_date_in_the_operator_time_zone(matching):
    # given: 1 July 2026 02:00 in Shanghai is still 30 June in UTC
    customers(C={"birth_date": date(1996, 7, 1)})
    at = datetime(2026, 6, 30, 18, 0, tzinfo=UTC)
    # then
    assert matching({"field": "age", "op": "eq", "value": 30}, at=at) == {"C"}


@pytest.mark.parametrize(
    ("local_today", "expected_age"),
    [
        pytest.param(date(2027, 2, 28), 26, id="28-february-not-yet"),
        pytest.param(date(2027, 3, 1), 27, id="1-march-counts"),
        pytest.param(date(2028, 2, 29), 28, id="leap-day-itself"),
    ],
)
def test_age_of_a_29_february_birthday(matching, local_today, expected_age):
    # given
    customers(C={"birth_date": date(2000, 2, 29)})
    at = datetime.combine(local_today, datetime.min.time(), tzinfo=SHANGHAI) + 12 * 3600 * SECOND
    # then
    assert matching({"field": "age", "op": "eq", "value": expected_age}, at=at) == {"C"}


def test_age_between_and_unknown_birth_dates(matching):
    # given
    customers(
        A={"birth_date": date(2006, 6, 30)},  # 20
        B={"birth_date": date(1996, 6, 30)},  # 30
        C={"birth_date": date(1995, 6, 30)},  # 31
        U={"birth_date": None},
    )
    # then
    assert matching({"field": "age", "op": "between", "value": [20, 30]}) == {"A", "B"}
    assert matching({"not": {"field": "age", "op": "between", "value": [20, 30]}}) == {"C", "U"}
    assert matching({"field": "age", "op": "ne", "value": 30}) == {"A", "C", "U"}
    assert matching({"field": "age", "op": "is_null", "value": True}) == {"U"}


def test_birth_month(matching):
    # given
    customers(
        MAR={"birth_date": date(1990, 3, 31)},
        APR={"birth_date": date(1985, 4, 1)},
        U={"birth_date": None},
    )
    # then
    assert matching({"field": "birth_month", "op": "eq", "value": 3}) == {"MAR"}
    assert matching({"field": "birth_month", "op": "in", "value": [3, 4]}) == {"MAR", "APR"}
    assert matching({"field": "birth_month", "op": "ne", "value": 3}) == {"APR", "U"}
    assert matching({"field": "birth_month", "op": "is_null", "value": True}) == {"U"}


def test_city_in_and_not_in_keep_unknown_cities_on_the_not_side(matching):
    # given
    customers(SH={"city": "Shanghai"}, BJ={"city": "Beijing"}, U={"city": ""})
    # then
    assert matching({"field": "city", "op": "in", "value": ["Shanghai", "Beijing"]}) == {
        "SH",
        "BJ",
    }
    assert matching({"field": "city", "op": "not_in", "value": ["Shanghai"]}) == {"BJ", "U"}
    assert matching({"not": {"field": "city", "op": "eq", "value": "Shanghai"}}) == {"BJ", "U"}
    assert matching({"field": "city", "op": "is_null", "value": True}) == {"U"}
    assert matching({"field": "city", "op": "eq", "value": "shanghai"}) == {"SH"}


@pytest.mark.parametrize("field", ["region", "occupation", "member_tier", "acquisition_channel"])
def test_free_text_profile_fields(matching, field):
    # given
    customers(A={field: "alpha"}, B={field: "beta"}, U={field: ""})
    # then
    assert matching({"field": field, "op": "eq", "value": "alpha"}) == {"A"}
    assert matching({"field": field, "op": "in", "value": ["alpha", "beta"]}) == {"A", "B"}
    assert matching({"field": field, "op": "ne", "value": "alpha"}) == {"B", "U"}
    assert matching({"field": field, "op": "is_null", "value": False}) == {"A", "B"}


def test_is_member(matching):
    # given
    customers(M={"is_member": True}, N={"is_member": False})
    # then
    assert matching({"field": "is_member", "op": "eq", "value": True}) == {"M"}
    assert matching({"field": "is_member", "op": "eq", "value": False}) == {"N"}


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        pytest.param("gte", 100, {"P100", "P101"}, id="gte-at-boundary"),
        pytest.param("gt", 100, {"P101"}, id="gt-excludes-boundary"),
        pytest.param("lte", 99, {"P0", "P99"}, id="lte-at-boundary"),
        pytest.param("lt", 99, {"P0"}, id="lt-excludes-boundary"),
        pytest.param("eq", 0, {"P0"}, id="eq-zero"),
        pytest.param("between", [99, 100], {"P99", "P100"}, id="between-inclusive"),
    ],
)
def test_points(matching, op, value, expected):
    # given
    customers(P0={"points": 0}, P99={"points": 99}, P100={"points": 100}, P101={"points": 101})
    # then
    assert matching({"field": "points", "op": op, "value": value}) == expected


def shanghai(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_registered_before_and_after_a_date_use_whole_days_in_shanghai(matching):
    # given: around 1 March 2026 in Shanghai (UTC+8)
    customers(
        FEB_LAST={"registered_at": shanghai(2026, 2, 28, 23, 59, 59)},
        MAR_FIRST={"registered_at": shanghai(2026, 3, 1, 0, 0)},
        MAR_LAST={"registered_at": shanghai(2026, 3, 1, 23, 59, 59)},
        MAR_SECOND={"registered_at": shanghai(2026, 3, 2, 0, 0)},
        U={"registered_at": None},
    )
    # then
    assert matching({"field": "registered_at", "op": "before", "value": "2026-03-01"}) == {
        "FEB_LAST"
    }
    assert matching({"field": "registered_at", "op": "after", "value": "2026-03-01"}) == {
        "MAR_SECOND"
    }
    assert matching(
        {"field": "registered_at", "op": "between", "value": ["2026-03-01", "2026-03-01"]}
    ) == {"MAR_FIRST", "MAR_LAST"}
    assert matching({"not": {"field": "registered_at", "op": "before", "value": "2026-03-01"}}) == {
        "MAR_FIRST",
        "MAR_LAST",
        "MAR_SECOND",
        "U",
    }
    assert matching({"field": "registered_at", "op": "is_null", "value": True}) == {"U"}


def test_registered_before_and_after_a_date_time_are_exact_instants(matching):
    # given
    customers(
        EARLY={"registered_at": shanghai(2026, 3, 1, 9, 59, 59)},
        EXACT={"registered_at": shanghai(2026, 3, 1, 10, 0)},
        LATE={"registered_at": shanghai(2026, 3, 1, 10, 0, 1)},
    )
    moment = "2026-03-01T02:00:00+00:00"
    # then
    assert matching({"field": "registered_at", "op": "before", "value": moment}) == {"EARLY"}
    assert matching({"field": "registered_at", "op": "after", "value": moment}) == {"LATE"}
    assert matching({"field": "registered_at", "op": "between", "value": [moment, moment]}) == {
        "EXACT"
    }


def test_registered_within_last_days_excludes_exactly_n_days_ago(matching, as_of):
    # given
    customers(
        OUT={"registered_at": as_of - 30 * DAY},
        IN={"registered_at": as_of - 30 * DAY + SECOND},
        NOW={"registered_at": as_of},
        FUTURE={"registered_at": as_of + SECOND},
    )
    # then
    assert matching({"field": "registered_at", "op": "within_last_days", "value": 30}) == {
        "IN",
        "NOW",
    }


def test_tag_has_and_not_has(matching):
    # given
    vip, new = Tag.objects.create(name="vip"), Tag.objects.create(name="new")
    customers(V={}, N={}, NONE={}, BOTH={})
    for customer_id, tags in {"V": [vip], "N": [new], "BOTH": [vip, new]}.items():
        Customer.objects.get(customer_id=customer_id).tags.set(tags)
    # then
    assert matching({"field": "tag", "op": "has", "value": "vip"}) == {"V", "BOTH"}
    assert matching({"field": "tag", "op": "not_has", "value": "vip"}) == {"N", "NONE"}
    assert matching({"field": "tag", "op": "has", "value": "missing"}) == set()


def test_consent_is_only_an_explicit_true_for_the_channel(matching):
    # given
    customers(
        YES={"consent": {"sms": True, "app_push": False}},
        NO={"consent": {"sms": False}},
        MISSING={"consent": {"app_push": True}},
        EMPTY={"consent": {}},
        TEXT={"consent": {"sms": "true"}},
        NULL={"consent": {"sms": None}},
    )
    # then
    assert matching({"field": "consent", "op": "has", "value": "sms"}) == {"YES"}
    assert matching({"field": "consent", "op": "not_has", "value": "sms"}) == {
        "NO",
        "MISSING",
        "EMPTY",
        "TEXT",
        "NULL",
    }
    assert matching({"field": "consent", "op": "has", "value": "app_push"}) == {"MISSING"}
