"""The customer base computed from the orders (a segment's, or days the monthly facts do
not answer) stops after REPORT_TIME_LIMIT_SECONDS in all: the page says why, the API answers
422 statement_timeout, instead of a web worker held until the server kills it.

A query is made slow by holding the customer table locked from another connection (the
query waits as a long one would run); the test's connection keeps a limit of its own of a
few seconds, so that a query left unbounded fails the test instead of hanging it.
"""

import time

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from analytics.exceptions import CustomerBaseTimedOut
from crm.core.time_limit import query_time_limit
from tests.conftest import customer_table_locked, make_user

pytestmark = pytest.mark.django_db

DETAIL = (
    "Computing the customer base from the orders took longer than 0.5 s and was stopped. "
    "Whole months of all customers are read from the monthly facts at once; for a segment or "
    "other days, try a shorter period."
)
# Not whole months: computed from the orders.
MID_MONTH = {"first_day": "2026-03-02", "last_day": "2026-06-30"}


@pytest.fixture
def customers_locked(settings):
    settings.REPORT_TIME_LIMIT_SECONDS = 0.5
    with connection.cursor() as cursor:
        # The safety net (see the module docstring); the test's transaction ends it.
        cursor.execute("SET statement_timeout = '5s'")
    with customer_table_locked():
        yield


def connection_limit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_a_slow_customer_base_says_why_on_the_page(customers_locked):
    client = APIClient()
    client.force_login(make_user("analyst"))

    started = time.monotonic()
    page = client.get(reverse("customer-base"), MID_MONTH)

    assert time.monotonic() - started < 3
    assert page.status_code == 200
    assert f'<p class="form-error" role="alert">{DETAIL}</p>' in page.content.decode()
    assert connection_limit() == "5s"


def test_a_slow_customer_base_export_says_why_and_what_to_do(customers_locked):
    client = APIClient()
    client.force_login(make_user("analyst"))

    answer = client.get(reverse("customer-base-export"), {**MID_MONTH, "table": "rfm"})

    assert answer.status_code == 422
    assert answer["Content-Type"] == "text/plain; charset=utf-8"
    assert answer.content.decode() == (
        f"{DETAIL} Open the customer base page with these filters to compute it in the "
        "background, then export it from there."
    )


def test_a_slow_customer_base_answers_422_in_the_api(customers_locked):
    client = APIClient()
    client.force_login(make_user("analyst"))

    started = time.monotonic()
    answer = client.get("/api/v1/reports/customers/", MID_MONTH)

    assert time.monotonic() - started < 3
    assert (answer.status_code, answer.json()) == (
        422,
        {"reason": "statement_timeout", "detail": DETAIL},
    )


def sleeps_within(limit: float, sleeps: int, seconds: float) -> list[float]:
    """When each of `sleeps` statements of `seconds` ended, under one limit of `limit` s."""
    started = time.monotonic()
    ended = []
    with query_time_limit(limit, timed_out=CustomerBaseTimedOut) as next_step:
        for _ in range(sleeps):
            next_step()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(%s)", [seconds])
            ended.append(time.monotonic() - started)
    return ended


def test_the_statements_of_a_limit_share_its_seconds():
    # given a limit of 0.5 s and statements of 0.3 s each, re-armed between them
    started = time.monotonic()
    # when
    with pytest.raises(CustomerBaseTimedOut):
        sleeps_within(0.5, 3, 0.3)
    # then the second was stopped at the limit, not 0.3 s after its start
    assert 0.5 <= time.monotonic() - started < 0.75
    # and within the limit, every statement runs
    assert len(sleeps_within(0.5, 2, 0.1)) == 2
