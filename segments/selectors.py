"""Reads of segments: preview, members, membership test, overlap.

Every function compiles the rules with segments.compiler into one Q over Customer; nothing
evaluates rules in Python. `as_of_is_now` is passed through to the compiler: True only when
the caller's as_of is the present (then unwindowed purchase conditions and lifecycle stages
read the stored metric columns).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from crm.models import Customer
from segments.compiler import compile_rule_tree
from segments.enums import SegmentKind
from segments.models import Segment, SegmentMember
from segments.rules import parse_rule_tree

DEFAULT_SAMPLE_SIZE = 10


def segment_preview(
    *,
    rules: Mapping[str, Any],
    as_of: datetime,
    as_of_is_now: bool = False,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    segment: Segment | None = None,
) -> dict[str, Any]:
    """Count, total customers and a sample of the customers matching `rules` at `as_of`.

    `segment` is the segment being edited, if any, so a reference back to it is refused as
    a cycle. Raises RuleError for invalid rules. The sample is the first customers by
    customer_id, so the same rules show the same sample.
    """
    node = parse_rule_tree(rules, segment_id=segment.pk if segment else None)
    members = Customer.objects.filter(
        compile_rule_tree(node, as_of=as_of, as_of_is_now=as_of_is_now)
    )
    return {
        "count": members.count(),
        "total": Customer.objects.count(),
        "sample": list(members.order_by("customer_id")[:sample_size]),
    }


def segment_members(
    *, segment: Segment, as_of: datetime, as_of_is_now: bool = False
) -> QuerySet[Customer]:
    """The customers in `segment` at `as_of`: a dynamic segment's rules compiled, a snapshot's
    frozen member list (the same whatever the as_of). Raises RuleError when the stored rules
    no longer validate (e.g. a referenced segment was deleted)."""
    return Customer.objects.filter(_membership(segment, as_of=as_of, as_of_is_now=as_of_is_now))


def is_in_segment(
    *, customer: Customer, segment: Segment, as_of: datetime, as_of_is_now: bool = False
) -> bool:
    """Whether `customer` is in `segment` at `as_of` (the same Q as segment_members, plus pk)."""
    return (
        segment_members(segment=segment, as_of=as_of, as_of_is_now=as_of_is_now)
        .filter(pk=customer.pk)
        .exists()
    )


def segment_overlap(
    *, first: Segment, second: Segment, as_of: datetime, as_of_is_now: bool = False
) -> dict[str, int]:
    """Sizes of two segments and of their intersection at `as_of`, in one scan."""
    in_first = _membership(first, as_of=as_of, as_of_is_now=as_of_is_now)
    in_second = _membership(second, as_of=as_of, as_of_is_now=as_of_is_now)
    return Customer.objects.aggregate(
        first=Count("pk", filter=in_first),
        second=Count("pk", filter=in_second),
        both=Count("pk", filter=in_first & in_second),
    )


def _membership(segment: Segment, *, as_of: datetime, as_of_is_now: bool) -> Q:
    if segment.kind == SegmentKind.SNAPSHOT:
        members = SegmentMember.objects.filter(segment=segment, customer=OuterRef("pk"))
        return Q(Exists(members))
    node = parse_rule_tree(segment.rules, segment_id=segment.pk)
    return compile_rule_tree(node, as_of=as_of, as_of_is_now=as_of_is_now)
