"""Uploading a customer-id list as a snapshot segment: known ids stored, unknown ones
reported by line, nothing stored when nobody is known."""

import io

import pytest

from crm.core.models import AuditEntry
from segments.exceptions import SnapshotUploadRefused
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.services.uploads import CustomerIdLine, read_customer_id_file, upload_snapshot
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def upload(text: str) -> list[CustomerIdLine]:
    return read_customer_id_file(io.BytesIO(text.encode("utf-8")))


def test_stores_known_ids_and_reports_unknown_ones_with_their_lines(marketer, as_of):
    # given
    for customer_id in ("C1", "C2", "C3"):
        CustomerFactory(customer_id=customer_id)
    lines = upload("customer_id\nC1\nNOPE-1\n\nC2\nC1\n C3 \nNOPE-2\n")
    # when
    result = upload_snapshot(name="Store event guests", lines=lines, actor=marketer, now=as_of)
    # then
    segment = result.segment
    assert (segment.name, segment.kind, segment.rules, segment.member_count) == (
        "Store event guests",
        "snapshot",
        {},
        3,
    )
    assert set(segment.members.values_list("customer__customer_id", flat=True)) == {
        "C1",
        "C2",
        "C3",
    }
    assert set(segment.members.values_list("added_at", flat=True)) == {as_of}
    assert (result.stored, result.duplicates, result.unknown_count) == (3, 1, 2)
    assert result.unknown == [
        {"line": 3, "customer_id": "NOPE-1", "reason": 'unknown customer id "NOPE-1"'},
        {"line": 8, "customer_id": "NOPE-2", "reason": 'unknown customer id "NOPE-2"'},
    ]
    assert list(SegmentSizeSnapshot.objects.values_list("segment", "at", "size")) == [
        (segment.pk, as_of, 3)
    ]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.changes) == (
        "segment.upload",
        {
            "name": [None, "Store event guests"],
            "kind": [None, "snapshot"],
            "members": [None, 3],
            "unknown_ids": [None, 2],
        },
    )


def test_reads_the_customer_id_column_of_a_csv_with_several_columns():
    # when
    lines = upload('\ufeffname,customer_id\n"Lee, Ann",C1\nBo,\nCy,C2\n')
    # then
    assert lines == [
        CustomerIdLine(line=2, customer_id="C1"),
        CustomerIdLine(line=4, customer_id="C2"),
    ]


def test_reads_a_plain_list_without_header():
    # when
    lines = upload("C1\r\nC2\r\n")
    # then
    assert lines == [
        CustomerIdLine(line=1, customer_id="C1"),
        CustomerIdLine(line=2, customer_id="C2"),
    ]


@pytest.mark.parametrize(
    ("content", "reason", "detail"),
    [
        pytest.param(
            b"name,city\nAnn,Shanghai\n",
            "no_customer_id_column",
            "The file has several columns but none is named customer_id in its first line.",
            id="no-column",
        ),
        pytest.param(
            "C1\n".encode("utf-16"),
            "unreadable_file",
            "The file is not UTF-8 text; save it as CSV (UTF-8).",
            id="not-utf8",
        ),
    ],
)
def test_refuses_files_it_cannot_read(content, reason, detail):
    # when
    with pytest.raises(SnapshotUploadRefused) as refused:
        read_customer_id_file(io.BytesIO(content))
    # then
    assert (refused.value.reason, refused.value.detail) == (reason, detail)


def test_refuses_a_list_of_only_unknown_ids_and_stores_nothing(marketer, as_of):
    # given
    CustomerFactory(customer_id="C1")
    # when
    with pytest.raises(SnapshotUploadRefused) as refused:
        upload_snapshot(name="Nobody", lines=upload("X1\nX2\n"), actor=marketer, now=as_of)
    # then
    assert (refused.value.reason, refused.value.detail) == (
        "no_known_customers",
        'None of the 2 customer ids is a known customer (line 1: "X1").',
    )
    assert (Segment.objects.count(), SegmentMember.objects.count()) == (0, 0)
    assert (SegmentSizeSnapshot.objects.count(), AuditEntry.objects.count()) == (0, 0)


def test_refuses_an_empty_list_and_stores_nothing(marketer, as_of):
    # when
    with pytest.raises(SnapshotUploadRefused) as refused:
        upload_snapshot(name="Empty", lines=upload("customer_id\n\n"), actor=marketer, now=as_of)
    # then
    assert (refused.value.reason, refused.value.detail) == (
        "empty_upload",
        "The list has no customer ids.",
    )
    assert (Segment.objects.count(), AuditEntry.objects.count()) == (0, 0)
