"""Every preview, member list, overlap and export query of a segment runs under a statement
timeout (settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS, 30 s by default): on expiry PostgreSQL
cancels it and the caller gets 422 {"reason": "statement_timeout", "detail"} from the API,
or a clear message on the pages.

A query is made slow by holding the customer table locked from another connection (the
query waits as a long one would run). Each test first sets a connection-wide limit of a few
seconds, so that a query left unbounded fails the test instead of hanging it.
"""

import time

import pytest
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.db import connection
from django.urls import reverse

from crm.models import Customer
from segments.models import Segment
from segments.rules import canonical_rules
from tests.segments.api_schema import assert_answer_documented, published_schema

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"
SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}
TIMED_OUT = {
    "reason": "statement_timeout",
    "detail": "Finding the customers took longer than 0.3 s and was stopped; try simpler "
    "rules, or try again later.",
}
TIMED_OUT_MESSAGE = (
    "Finding the customers took longer than 0.3 s and was stopped; try simpler rules, or "
    "try again later."
)


@pytest.fixture
def short_limit(settings):
    settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS = 0.3
    with connection.cursor() as cursor:
        # The safety net (see the module docstring); the test's transaction ends it.
        cursor.execute("SET statement_timeout = '4s'")


@pytest.fixture
def segment(db) -> Segment:
    return Segment.objects.create(name="Shanghai", rules=canonical_rules(SHANGHAI))


def connection_limit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return cursor.fetchone()[0]


def test_the_limit_is_30_seconds_by_default():
    assert django_settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS == 30


def test_a_slow_preview_is_cancelled_with_422(analyst_api, short_limit, lock_customer_table):
    # given
    lock_customer_table()
    # when
    started = time.monotonic()
    response = analyst_api.post(f"{SEGMENTS}preview/", {"rules": SHANGHAI}, format="json")
    # then
    assert (response.status_code, response.json()) == (422, TIMED_OUT)
    assert time.monotonic() - started < 3
    assert connection_limit() == "4s"


def test_a_slow_member_list_is_cancelled_with_422(
    analyst_api, short_limit, segment, lock_customer_table
):
    # given
    lock_customer_table()
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/members/")
    # then
    assert (response.status_code, response.json()) == (422, TIMED_OUT)


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_a_slow_export_is_cancelled_with_422_before_the_download_starts(
    analyst_api, short_limit, segment, lock_customer_table, accept
):
    # given
    lock_customer_table()
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/export/", HTTP_ACCEPT=accept)
    # then
    assert not response.streaming
    assert response["Content-Type"] == "application/json"
    assert (response.status_code, response.json()) == (422, TIMED_OUT)


def test_a_slow_overlap_is_cancelled_with_422(
    analyst_api, short_limit, segment, lock_customer_table
):
    # given
    other = Segment.objects.create(name="Other", rules=canonical_rules(SHANGHAI))
    lock_customer_table()
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/overlap/", {"with": other.pk})
    # then
    assert (response.status_code, response.json()) == (422, TIMED_OUT)


def test_the_422_is_documented(analyst_api, short_limit, segment, lock_customer_table):
    # given
    schema = published_schema(analyst_api)
    lock_customer_table()
    # when
    answers = [
        (
            "/api/v1/segments/preview/",
            "post",
            analyst_api.post(f"{SEGMENTS}preview/", {"rules": SHANGHAI}, format="json"),
        ),
        (
            "/api/v1/segments/{segment_pk}/members/",
            "get",
            analyst_api.get(f"{SEGMENTS}{segment.pk}/members/"),
        ),
        (
            "/api/v1/segments/{segment_pk}/export/",
            "get",
            analyst_api.get(f"{SEGMENTS}{segment.pk}/export/"),
        ),
        (
            "/api/v1/segments/{id}/overlap/",
            "get",
            analyst_api.get(f"{SEGMENTS}{segment.pk}/overlap/", {"with": segment.pk}),
        ),
    ]
    # then
    for path, method, response in answers:
        assert response.status_code == 422
        assert_answer_documented(schema, path, method, response)


def test_a_slow_segment_summary_shows_why_on_the_page(
    client, analyst, short_limit, segment, lock_customer_table
):
    # given
    client.force_login(analyst)
    lock_customer_table()
    # when
    response = client.get(reverse("segment-summary", args=[segment.pk]))
    # then
    assert response.status_code == 200
    assert response.context["problem"] == TIMED_OUT_MESSAGE
    assert TIMED_OUT_MESSAGE in response.content.decode()


def test_a_slow_overlap_fragment_shows_why(
    client, analyst, short_limit, segment, lock_customer_table
):
    # given
    client.force_login(analyst)
    lock_customer_table()
    # when
    response = client.get(reverse("segment-overlap", args=[segment.pk]), {"with": segment.pk})
    # then
    assert response.status_code == 200
    assert response.context["problem"] == TIMED_OUT_MESSAGE


def test_a_slow_campaign_audience_size_shows_why(
    client, analyst, short_limit, segment, lock_customer_table
):
    # given: the campaign wizard counts the chosen segment's audience as the marketer picks it
    client.force_login(analyst)
    lock_customer_table()
    # when
    started = time.monotonic()
    response = client.get(reverse("campaign-audience-size"), {"segment": segment.pk})
    # then: stopped at the limit, not at the connection's safety net
    assert time.monotonic() - started < 3
    assert response.status_code == 200
    assert response.content.decode().strip() == (
        f'<p class="form-error">This segment cannot be counted: {TIMED_OUT_MESSAGE}</p>'
    )
    assert connection_limit() == "4s"


def test_a_slow_page_export_goes_back_to_the_segment_page_with_why(
    client, analyst, short_limit, segment, lock_customer_table
):
    # given
    client.force_login(analyst)
    lock_customer_table()
    # when
    response = client.get(reverse("segment-export", args=[segment.pk]))
    # then
    assert response.status_code == 302
    assert response.url == reverse("segment-detail", args=[segment.pk])
    assert [str(message) for message in get_messages(response.wsgi_request)] == [
        f"This segment cannot be exported: {TIMED_OUT_MESSAGE}"
    ]


def test_a_query_within_the_limit_answers_and_leaves_the_connection_as_it_was(
    analyst_api, short_limit, segment
):
    # given
    Customer.objects.create(customer_id="SH0", city="Shanghai")
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/members/")
    # then
    assert response.status_code == 200
    assert [row["customer_id"] for row in response.json()["results"]] == ["SH0"]


def test_a_one_millisecond_limit_stops_a_rule_of_many_conditions(analyst_api, settings):
    # given: no lock, but 1 ms is less than planning and running 400 conditions takes
    settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS = 0.001
    Customer.objects.bulk_create(
        Customer(customer_id=f"C{number}", points=number) for number in range(200)
    )
    rules = {
        "any": [
            {"field": "event_count", "op": "gte", "value": number, "window": {"last_days": 30}}
            for number in range(1, 401)
        ]
    }
    # when
    response = analyst_api.post(f"{SEGMENTS}preview/", {"rules": rules}, format="json")
    # then
    assert response.status_code == 422
    assert response.json()["reason"] == "statement_timeout"


@pytest.mark.django_db(transaction=True)
def test_an_export_streams_every_member_and_then_ends_its_transaction(analyst_api):
    # given: more members than one fetch of the stream reads
    Customer.objects.bulk_create(
        Customer(customer_id=f"SH{number:05d}", city="Shanghai") for number in range(4500)
    )
    segment = Segment.objects.create(name="Shanghai", rules=canonical_rules(SHANGHAI))
    # when
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/export/")
    lines = b"".join(response.streaming_content).decode().splitlines()
    # then
    assert response.status_code == 200
    assert len(lines) == 1 + 4500
    assert lines[1].startswith("SH00000,")
    assert not connection.in_atomic_block
    assert connection_limit() == "0"


@pytest.mark.django_db(transaction=True)
def test_an_export_abandoned_midway_ends_its_transaction(analyst_api):
    # given
    Customer.objects.bulk_create(
        Customer(customer_id=f"SH{number:05d}", city="Shanghai") for number in range(4500)
    )
    segment = Segment.objects.create(name="Shanghai", rules=canonical_rules(SHANGHAI))
    response = analyst_api.get(f"{SEGMENTS}{segment.pk}/export/")
    lines = iter(response.streaming_content)
    next(lines)
    # when the download is dropped
    response.close()
    # then
    assert not connection.in_atomic_block
    assert connection_limit() == "0"
