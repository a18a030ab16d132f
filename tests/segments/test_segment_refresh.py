"""Refreshing a segment: its members materialised in batches, exactly the compiled set,
with progress, a size history point, and two refreshes at once never interleaving."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from crm.core.jobs import create_job
from crm.core.models import Job
from crm.models import Customer
from segments import tasks
from segments.enums import SegmentKind
from segments.locks import REFRESH_LOCK_NAMESPACE
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.rules import canonical_rules
from segments.services.refresh import WAITING_MESSAGE, refresh_segment
from tests.conftest import other_connection
from tests.factories import CustomerFactory, OrderFactory

DAY = timedelta(days=1)
# Shanghai customers with at least one paid order in the last 30 days.
ACTIVE_IN_SHANGHAI = {
    "all": [
        {"field": "city", "op": "eq", "value": "Shanghai"},
        {"field": "order_count", "op": "gte", "value": 1, "window": {"last_days": 30}},
    ]
}


def shop(as_of) -> None:
    """Seven Shanghai customers, the odd-numbered ones ordering recently; two elsewhere."""
    for number in range(1, 8):
        customer = CustomerFactory(customer_id=f"SH{number}", city="Shanghai")
        if number % 2:
            OrderFactory(customer=customer, placed_at=as_of - 3 * DAY)
        else:
            OrderFactory(customer=customer, placed_at=as_of - 60 * DAY)
    for number in range(1, 3):
        OrderFactory(
            customer=CustomerFactory(customer_id=f"BJ{number}", city="Beijing"),
            placed_at=as_of - DAY,
        )


def refresh_job(segment: Segment) -> Job:
    return create_job(kind="segment_refresh", label=f"Segment #{segment.pk} refresh: x")


def member_ids(segment: Segment) -> set[str]:
    return set(
        SegmentMember.objects.filter(segment=segment).values_list(
            "customer__customer_id", flat=True
        )
    )


@pytest.mark.django_db
def test_materialises_exactly_the_compiled_members_across_batches(as_of, matching, monkeypatch):
    # given: stale members (SH2 no longer matches, BJ1 never did) and one still matching
    shop(as_of)
    segment = Segment.objects.create(name="Active", rules=canonical_rules(ACTIVE_IN_SHANGHAI))
    earlier = as_of - 10 * DAY
    for customer_id in ("SH1", "SH2", "BJ1"):
        SegmentMember.objects.create(
            segment=segment,
            customer=Customer.objects.get(customer_id=customer_id),
            added_at=earlier,
        )
    job = refresh_job(segment)
    # Two members per batch, so stale members between and after batches must go too.
    monkeypatch.setattr("segments.services.refresh.REFRESH_BATCH_SIZE", 2)
    # when
    refresh_segment(segment_id=segment.pk, job_id=job.pk, now=as_of)
    # then
    expected = matching(ACTIVE_IN_SHANGHAI, as_of_is_now=True)
    assert expected == {"SH1", "SH3", "SH5", "SH7"}
    assert member_ids(segment) == expected
    added = dict(
        SegmentMember.objects.filter(segment=segment).values_list(
            "customer__customer_id", "added_at"
        )
    )
    assert added == {"SH1": earlier, "SH3": as_of, "SH5": as_of, "SH7": as_of}
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.percent, job.message) == (
        "succeeded",
        4,
        4,
        100,
        "4 members.",
    )
    assert (job.started_at, job.finished_at) == (as_of, as_of)
    segment.refresh_from_db()
    assert (segment.member_count, segment.last_refreshed_at) == (4, as_of)
    assert list(SegmentSizeSnapshot.objects.values_list("segment", "at", "size")) == [
        (segment.pk, as_of, 4)
    ]


@pytest.mark.django_db
def test_each_refresh_adds_a_size_history_point(as_of):
    # given
    shop(as_of)
    segment = Segment.objects.create(
        name="Shanghai", rules=canonical_rules({"field": "city", "op": "eq", "value": "Shanghai"})
    )
    refresh_segment(segment_id=segment.pk, job_id=refresh_job(segment).pk, now=as_of)
    CustomerFactory(customer_id="SH8", city="Shanghai")
    # when
    later = as_of + DAY
    refresh_segment(segment_id=segment.pk, job_id=refresh_job(segment).pk, now=later)
    # then
    assert list(segment.size_history.values_list("at", "size")) == [(as_of, 7), (later, 8)]
    assert len(member_ids(segment)) == 8


@pytest.mark.django_db
def test_refreshing_a_snapshot_with_rules_freezes_its_members_again(as_of):
    # given: frozen while SH1 was in Shanghai
    shop(as_of)
    segment = Segment.objects.create(
        name="Frozen",
        kind=SegmentKind.SNAPSHOT,
        rules=canonical_rules({"field": "city", "op": "eq", "value": "Beijing"}),
    )
    refresh_segment(segment_id=segment.pk, job_id=refresh_job(segment).pk, now=as_of)
    CustomerFactory(customer_id="BJ3", city="Beijing")
    assert member_ids(segment) == {"BJ1", "BJ2"}
    # when
    refresh_segment(segment_id=segment.pk, job_id=refresh_job(segment).pk, now=as_of + DAY)
    # then
    assert member_ids(segment) == {"BJ1", "BJ2", "BJ3"}


@pytest.mark.django_db
def test_refreshing_an_uploaded_list_keeps_its_members_and_records_its_size(as_of):
    # given
    shop(as_of)
    segment = Segment.objects.create(name="Guests", kind=SegmentKind.SNAPSHOT, rules={})
    for customer in Customer.objects.filter(customer_id__in=["SH1", "BJ2"]):
        SegmentMember.objects.create(segment=segment, customer=customer, added_at=as_of)
    job = refresh_job(segment)
    # when
    refresh_segment(segment_id=segment.pk, job_id=job.pk, now=as_of + DAY)
    # then
    assert member_ids(segment) == {"SH1", "BJ2"}
    assert list(segment.size_history.values_list("at", "size")) == [(as_of + DAY, 2)]
    job.refresh_from_db()
    assert (job.status, job.total, job.done, job.message) == ("succeeded", 2, 2, "2 members.")


@pytest.mark.django_db
def test_fails_the_job_when_the_rules_no_longer_validate_and_changes_nothing(as_of):
    # given: the referenced segment was removed behind the services' back
    shop(as_of)
    gone = Segment.objects.create(name="Gone", rules=canonical_rules(ACTIVE_IN_SHANGHAI))
    segment = Segment.objects.create(
        name="Uses gone",
        rules=canonical_rules({"field": "in_segment", "op": "eq", "value": gone.pk}),
    )
    SegmentMember.objects.create(
        segment=segment,
        customer=Customer.objects.get(customer_id="SH1"),
        added_at=as_of,
    )
    gone_id = gone.pk
    gone.delete()
    job = refresh_job(segment)
    # when
    refresh_segment(segment_id=segment.pk, job_id=job.pk, now=as_of)
    # then
    job.refresh_from_db()
    assert (job.status, job.message) == (
        "failed",
        f"The rules no longer validate: segment {gone_id} does not exist",
    )
    assert member_ids(segment) == {"SH1"}
    assert SegmentSizeSnapshot.objects.count() == 0
    segment.refresh_from_db()
    assert segment.member_count is None


@pytest.mark.django_db
def test_fails_the_job_of_a_deleted_segment(as_of):
    # given
    segment = Segment.objects.create(name="Soon gone", rules=canonical_rules(ACTIVE_IN_SHANGHAI))
    job = refresh_job(segment)
    segment_id = segment.pk
    segment.delete()
    # when
    refresh_segment(segment_id=segment_id, job_id=job.pk, now=as_of)
    # then
    job.refresh_from_db()
    assert (job.status, job.message) == (
        "failed",
        "The segment was deleted before it was refreshed.",
    )


@pytest.mark.django_db
def test_does_not_run_a_finished_job_again(as_of):
    # given: a redelivered task of a refresh that already succeeded
    shop(as_of)
    segment = Segment.objects.create(name="Shanghai", rules=canonical_rules(ACTIVE_IN_SHANGHAI))
    job = refresh_job(segment)
    refresh_segment(segment_id=segment.pk, job_id=job.pk, now=as_of)
    SegmentMember.objects.filter(segment=segment).delete()
    # when
    refresh_segment(segment_id=segment.pk, job_id=job.pk, now=as_of + DAY)
    # then
    assert member_ids(segment) == set()
    assert list(segment.size_history.values_list("at", flat=True)) == [as_of]


@pytest.mark.django_db(transaction=True)
def test_two_refreshes_at_once_leave_exactly_the_right_members(as_of, matching, monkeypatch):
    # given: stale members and two refresh jobs started together
    shop(as_of)
    segment = Segment.objects.create(name="Active", rules=canonical_rules(ACTIVE_IN_SHANGHAI))
    for customer_id in ("SH2", "BJ1"):
        SegmentMember.objects.create(
            segment=segment,
            customer=Customer.objects.get(customer_id=customer_id),
            added_at=as_of,
        )
    jobs = [refresh_job(segment), refresh_job(segment)]
    monkeypatch.setattr("segments.services.refresh.REFRESH_BATCH_SIZE", 1)
    barrier = threading.Barrier(len(jobs))
    errors = []

    def refresh(job: Job, moment) -> None:
        try:
            barrier.wait()
            refresh_segment(segment_id=segment.pk, job_id=job.pk, now=moment)
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=refresh, args=(job, as_of + number * timedelta(seconds=1)))
        for number, job in enumerate(jobs)
    ]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then
    assert errors == []
    assert member_ids(segment) == matching(ACTIVE_IN_SHANGHAI, as_of_is_now=True)
    assert member_ids(segment) == {"SH1", "SH3", "SH5", "SH7"}
    assert SegmentMember.objects.filter(segment=segment).count() == 4
    assert sorted(Job.objects.values_list("status", "done")) == [("succeeded", 4)] * 2
    assert sorted(segment.size_history.values_list("size", flat=True)) == [4, 4]


@pytest.mark.django_db(transaction=True)
def test_a_second_refresh_waits_for_the_first_and_says_so(as_of):
    # given: another refresh of the segment holds its lock
    shop(as_of)
    segment = Segment.objects.create(name="Shanghai", rules=canonical_rules(ACTIVE_IN_SHANGHAI))
    job = refresh_job(segment)
    holder = other_connection(autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s, %s)", [REFRESH_LOCK_NAMESPACE, segment.pk])

    def refresh() -> None:
        try:
            refresh_segment(segment_id=segment.pk, job_id=job.pk, now=as_of)
        finally:
            connection.close()

    thread = threading.Thread(target=refresh)
    # when
    thread.start()
    deadline = time.monotonic() + 20
    while Job.objects.get(pk=job.pk).message != WAITING_MESSAGE:
        assert time.monotonic() < deadline, "the refresh never said it was waiting"
        time.sleep(0.05)
    # then: it waits, having written nothing
    waiting = Job.objects.get(pk=job.pk)
    assert (waiting.status, waiting.done) == ("pending", 0)
    assert member_ids(segment) == set()
    # when the first refresh ends
    holder.execute("SELECT pg_advisory_unlock(%s, %s)", [REFRESH_LOCK_NAMESPACE, segment.pk])
    holder.close()
    thread.join(timeout=30)
    # then it runs
    done = Job.objects.get(pk=job.pk)
    assert (done.status, done.message) == ("succeeded", "4 members.")
    assert member_ids(segment) == {"SH1", "SH3", "SH5", "SH7"}


@pytest.mark.django_db
def test_the_nightly_task_refreshes_every_dynamic_segment_and_no_snapshot(
    as_of, django_capture_on_commit_callbacks
):
    # given
    shop(as_of)
    # (the task reads the real clock, so the rules do not depend on time)
    beijing = canonical_rules({"field": "city", "op": "eq", "value": "Beijing"})
    first = Segment.objects.create(
        name="A", rules=canonical_rules({"field": "city", "op": "in", "value": ["Shanghai"]})
    )
    second = Segment.objects.create(name="B", rules=beijing)
    frozen = Segment.objects.create(name="Frozen", kind=SegmentKind.SNAPSHOT, rules=beijing)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        started = tasks.refresh_dynamic_segments_task()
    # then
    assert started == 2
    # (sorted on both sides: "#10" sorts before "#9")
    assert sorted(Job.objects.values_list("label", "status")) == sorted(
        [
            (f"Segment #{first.pk} refresh: A", "succeeded"),
            (f"Segment #{second.pk} refresh: B", "succeeded"),
        ]
    )
    assert (member_ids(first), member_ids(second), member_ids(frozen)) == (
        {f"SH{number}" for number in range(1, 8)},
        {"BJ1", "BJ2"},
        set(),
    )
