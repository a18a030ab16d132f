"""The builder's live count (segments.services.preview): counts, sentence, and a
preview superseded by a newer edit of the same builder cancelled on PostgreSQL."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from segments.exceptions import PreviewStopped, SegmentQueryTimedOut
from segments.services.preview import preview_segment_rules
from tests.factories import CustomerFactory, OrderFactory

DAY = timedelta(days=1)
SHANGHAI = {"field": "city", "op": "eq", "value": "Shanghai"}


@pytest.mark.django_db
def test_counts_matching_customers_with_a_sample_and_the_sentence(as_of):
    # given
    for number in range(3):
        CustomerFactory(customer_id=f"SH{number}", city="Shanghai")
    CustomerFactory(customer_id="BJ0", city="Beijing")
    # when
    preview = preview_segment_rules(
        rules=SHANGHAI, as_of=as_of, as_of_is_now=False, sample_size=2, builder_session="abcdefgh"
    )
    # then
    assert (preview["count"], preview["total"]) == (3, 4)
    assert [customer.customer_id for customer in preview["sample"]] == ["SH0", "SH1"]
    assert preview["description"] == "Customers in Shanghai"


@pytest.mark.django_db
def test_counts_as_of_a_past_moment(as_of):
    # given: one order 10 days before as_of, one 40 days before
    OrderFactory(customer=CustomerFactory(customer_id="A"), placed_at=as_of - 10 * DAY)
    OrderFactory(customer=CustomerFactory(customer_id="B"), placed_at=as_of - 40 * DAY)
    rules = {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 30}}
    # when
    now = preview_segment_rules(rules=rules, as_of=as_of, as_of_is_now=False)
    earlier = preview_segment_rules(rules=rules, as_of=as_of - 20 * DAY, as_of_is_now=False)
    # then
    assert [customer.customer_id for customer in now["sample"]] == ["A"]
    assert [customer.customer_id for customer in earlier["sample"]] == ["B"]


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _preview_in_thread(results: dict, name: str, as_of, session: str) -> threading.Thread:
    def run() -> None:
        try:
            results[name] = preview_segment_rules(
                rules=SHANGHAI,
                as_of=as_of,
                as_of_is_now=True,
                viewer_id=7,
                builder_session=session,
            )
        except PreviewStopped as stopped:
            results[name] = stopped
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_a_newer_preview_of_the_same_builder_cancels_the_running_one_on_postgresql(
    as_of, lock_customer_table
):
    # given: a preview of builder session S still counting on the database
    for number in range(3):
        CustomerFactory(customer_id=f"SH{number}", city="Shanghai")
    lock = lock_customer_table()
    results: dict = {}
    first = _preview_in_thread(results, "first", as_of, "session-S1")
    _wait_until(lambda: lock.waiting_previews() == 1, "the first preview counts")
    # when: the same builder asks again
    second = _preview_in_thread(results, "second", as_of, "session-S1")
    first.join(timeout=20)
    # then: the first was cancelled by PostgreSQL while it ran, the second still counts
    assert isinstance(results["first"], PreviewStopped)
    assert (results["first"].reason, results["first"].detail) == (
        "preview_superseded",
        "A newer preview from the same builder replaced this one.",
    )
    _wait_until(lambda: lock.waiting_previews() == 1, "the second preview counts")
    assert "second" not in results
    # when the count can finish
    lock.release()
    second.join(timeout=20)
    # then the newer preview answers
    assert (results["second"]["count"], results["second"]["total"]) == (3, 3)
    assert lock.waiting_previews() == 0


@pytest.mark.django_db(transaction=True)
def test_a_preview_of_another_builder_is_not_cancelled(as_of, lock_customer_table):
    # given: a preview of builder session S1 still counting
    CustomerFactory(customer_id="SH0", city="Shanghai")
    lock = lock_customer_table()
    results: dict = {}
    first = _preview_in_thread(results, "first", as_of, "session-S1")
    _wait_until(lambda: lock.waiting_previews() == 1, "the first preview counts")
    # when: another builder (session S2) previews too
    second = _preview_in_thread(results, "second", as_of, "session-S2")
    _wait_until(lambda: lock.waiting_previews() == 2, "both previews count")
    lock.release()
    first.join(timeout=20)
    second.join(timeout=20)
    # then both answer
    assert (results["first"]["count"], results["second"]["count"]) == (1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_preview_slower_than_the_timeout_is_stopped_on_the_database(
    as_of, settings, lock_customer_table
):
    # given: counting cannot finish (the table is locked) and a 300 ms limit
    CustomerFactory(customer_id="SH0", city="Shanghai")
    settings.SEGMENT_STATEMENT_TIMEOUT_SECONDS = 0.3
    lock = lock_customer_table()
    # when
    started = time.monotonic()
    with pytest.raises(SegmentQueryTimedOut) as stopped:
        preview_segment_rules(rules=SHANGHAI, as_of=as_of, as_of_is_now=True)
    # then
    assert time.monotonic() - started < 5
    assert (stopped.value.reason, stopped.value.detail, stopped.value.http_status) == (
        "statement_timeout",
        "Finding the customers took longer than 0.3 s and was stopped; try simpler rules, or "
        "try again later.",
        422,
    )
    lock.release()
    # and the connection's own limit is back afterwards
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
