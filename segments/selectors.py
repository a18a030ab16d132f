"""Reads of segments: preview, members, membership test, overlap.

Every function compiles the rules with segments.compiler into one Q over Customer; nothing
evaluates rules in Python. `as_of_is_now` is passed through to the compiler: True only when
the caller's as_of is the present (then unwindowed purchase conditions and lifecycle stages
read the stored metric columns).
"""

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Window
from django.utils.timezone import localtime

from crm.core.models import Job
from crm.enums import ChannelKind
from crm.models import Channel, Customer, Order, OrderItem, Tag
from crm.selectors import with_contact_shown
from segments.compiler import compile_rule_tree
from segments.describe import describe_rule_tree
from segments.enums import SegmentKind
from segments.fields.lookups import code, trimmed
from segments.models import Segment, SegmentMember, SegmentSizeSnapshot
from segments.rules import Node, parse_rule_tree

DEFAULT_SAMPLE_SIZE = 10
# What a preview's sample shows (the API's SampleCustomerSerializer, the builder's list).
PREVIEW_SAMPLE_FIELDS = (
    "customer_id",
    "name",
    "city",
    "lifecycle_stage",
    "order_count",
    "total_spent",
    "last_order_at",
)


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
    customer_id, so the same rules show the same sample, with only PREVIEW_SAMPLE_FIELDS
    loaded.

    Count and sample come from one evaluation of the rules (COUNT(*) OVER () beside the
    first rows): counting and then sampling evaluated them twice, which doubled a preview
    (7.3 s instead of 3.7 s for "2+ orders with nuts in 90 days" on 1M customers).
    """
    node = parse_rule_tree(rules, segment_id=segment.pk if segment else None)
    members = Customer.objects.filter(
        compile_rule_tree(node, as_of=as_of, as_of_is_now=as_of_is_now)
    )
    if sample_size <= 0:
        return {"count": members.count(), "total": Customer.objects.count(), "sample": []}
    sample = list(
        members.only(*PREVIEW_SAMPLE_FIELDS)
        .annotate(matching=Window(Count("pk")))
        .order_by("customer_id")[:sample_size]
    )
    return {
        # No row means nobody matches (a match would have been sampled).
        "count": sample[0].matching if sample else 0,
        "total": Customer.objects.count(),
        "sample": sample,
    }


def segment_members(
    *, segment: Segment, as_of: datetime, as_of_is_now: bool = False
) -> QuerySet[Customer]:
    """The customers in `segment` at `as_of`: a dynamic segment's rules compiled, a snapshot's
    frozen member list (the same whatever the as_of). Raises RuleError when the stored rules
    no longer validate (e.g. a referenced segment was deleted)."""
    return Customer.objects.filter(_membership(segment, as_of=as_of, as_of_is_now=as_of_is_now))


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
    return segment_audience(segment=segment).membership(as_of=as_of, as_of_is_now=as_of_is_now)


@dataclass(frozen=True)
class Audience:
    """A segment's membership test, parsed once and compiled for any moment.

    A dynamic segment's rules (with the in_segment references they resolve) are read and
    parsed when the Audience is made; `membership()` only compiles, without a query, so a
    caller may keep an Audience while `segments_version()` is unchanged.
    """

    segment_id: int
    node: Node | None  # None: a snapshot, whose stored member list is the membership

    def membership(
        self, *, as_of: datetime, as_of_is_now: bool = False, only_customer: str | None = None
    ) -> Q:
        """The members at `as_of`; with `only_customer`, a test of that customer alone
        (segments.compiler.compile_rule_tree), for a query limited to them."""
        if self.node is None:
            members = SegmentMember.objects.filter(
                segment_id=self.segment_id, customer=OuterRef("pk")
            )
            return Q(Exists(members))
        return compile_rule_tree(
            self.node, as_of=as_of, as_of_is_now=as_of_is_now, only_customer=only_customer
        )


def segment_audience(*, segment: Segment) -> Audience:
    """The Audience of `segment`; raises RuleError when its stored rules no longer validate."""
    if segment.kind == SegmentKind.SNAPSHOT:
        return Audience(segment_id=segment.pk, node=None)
    return Audience(
        segment_id=segment.pk, node=parse_rule_tree(segment.rules, segment_id=segment.pk)
    )


def segments_version() -> datetime | None:
    """The version of the segments' definitions: an Audience made after reading it is still
    exact while it stays the same (membership refreshes do not count).

    It is the latest `updated_at`, which the database stamps on every write of rules
    (create, change, duplicate: segments.services.definitions._stamp_change) with its own
    clock and after every stamp committed before (those writes are serialised), so it moves
    forward with each change whatever the app servers' clocks. An uploaded list keeps the
    app's time: a new segment is in no kept Audience.
    """
    return Segment.objects.aggregate(version=Max("updated_at"))["version"]


# Reads of the segment pages, API and services ---------------------------------------------

# How many distinct values the builder offers for a field, most frequent first.
FIELD_VALUES_LIMIT = 200
# Distinct values of a column are a full scan (~1-2 s over 10M order items); the builder
# asks once per field, so they are cached for a while.
FIELD_VALUES_CACHE_SECONDS = 600
# The member export's columns; phone and e-mail are masked without the PII permission.
MEMBER_EXPORT_HEADER = (
    "customer_id",
    "name",
    "phone",
    "email",
    "gender",
    "city",
    "region",
    "is_member",
    "member_tier",
    "tags",
    "lifecycle_stage",
    "rfm_group",
    "value_tier",
    "order_count",
    "total_spent",
    "last_order_at",
)
# Rows per database round trip while streaming an export (one tag prefetch per chunk), so
# memory stays flat whatever the size of the segment.
MEMBER_EXPORT_CHUNK_SIZE = 2000
# Job.kind of a segment refresh; the label names the segment (see refresh_job_label).
REFRESH_JOB_KIND = "segment_refresh"

# Where the values of a text field (or of a purchase scope key) are found in the data.
VALUE_SOURCES: dict[str, tuple[type, str, Q]] = {
    **{
        name: (Customer, name, ~Q(**{name: ""}))
        for name in (
            "city",
            "region",
            "occupation",
            "member_tier",
            "acquisition_channel",
            "preferred_category",
            "preferred_channel",
        )
    },
    "tag": (Tag, "name", Q()),
    "consent": (Channel, "code", Q(kind=ChannelKind.OFF_SITE)),
    "bought_category": (OrderItem, "category", ~Q(category="")),
    "bought_sku": (OrderItem, "sku", Q()),
    "bought_in_store": (Order, "store", ~Q(store="")),
    "category": (OrderItem, "category", ~Q(category="")),
    "sku": (OrderItem, "sku", Q()),
    "store": (Order, "store", ~Q(store="")),
    "channel": (Order, "channel", ~Q(channel="")),
}


# A database id as text: digits only (not "²", which str.isdigit() accepts and int() does
# not), and few enough for a bigint.
ID_TEXT = re.compile(r"[0-9]{1,18}")


def segment_named_by(text: str) -> Segment | None:
    """The segment whose id is `text` (from a URL or a query parameter), or None when there
    is none, including for text that is no id at all ("abc", "1.5", a NUL byte)."""
    if not ID_TEXT.fullmatch(text):
        return None
    return segments_for_list().filter(pk=int(text)).first()


def segments_for_list() -> QuerySet[Segment]:
    """Every segment with who created and changed it, by name.

    The size shown is the stored `member_count` of the last refresh, so a list never
    evaluates rules.
    """
    return Segment.objects.select_related("created_by", "updated_by").order_by("name", "pk")


def segment_rule_members(
    *, segment: Segment, as_of: datetime, as_of_is_now: bool = False
) -> QuerySet[Customer]:
    """The customers matching the segment's rules at `as_of`, whatever its kind: what a
    refresh freezes into a snapshot. Raises RuleError when the rules no longer validate."""
    node = parse_rule_tree(segment.rules, segment_id=segment.pk)
    return Customer.objects.filter(compile_rule_tree(node, as_of=as_of, as_of_is_now=as_of_is_now))


def segment_sentence(*, segment: Segment) -> str:
    """The segment's rules as one sentence; an uploaded list says so."""
    if not segment.rules:
        return "Customers on an uploaded list"
    return describe_rule_tree(parse_rule_tree(segment.rules, segment_id=segment.pk))


def segment_overlap_summary(
    *, first: Segment, second: Segment, as_of: datetime, as_of_is_now: bool = True
) -> dict[str, int]:
    """segment_overlap plus the ids and the number of all customers (for shares)."""
    sizes = segment_overlap(first=first, second=second, as_of=as_of, as_of_is_now=as_of_is_now)
    return {**sizes, "segment": first.pk, "other": second.pk, "total": Customer.objects.count()}


def segment_size_history(*, segment: Segment) -> list[SegmentSizeSnapshot]:
    """The sizes counted at each refresh, oldest first."""
    return list(SegmentSizeSnapshot.objects.filter(segment=segment).order_by("at"))


def segments_referencing(*, segment: Segment) -> list[Segment]:
    """Other segments whose rules name `segment` in an in_segment condition, by name.

    Reads every other segment's rules and walks them in Python, at any depth: segments are
    few (hundreds).
    """
    found = []
    for other in Segment.objects.exclude(pk=segment.pk).exclude(rules={}).order_by("name", "pk"):
        if segment.pk in _referenced_segment_ids(other.rules):
            found.append(other)
    return found


def _referenced_segment_ids(data: Any) -> set[int]:
    if isinstance(data, Mapping):
        if data.get("field") == "in_segment":
            value = data.get("value")
            return set(value) if isinstance(value, list) else {value}
        return set().union(*(_referenced_segment_ids(child) for child in data.values()))
    if isinstance(data, list):
        return set().union(*(_referenced_segment_ids(child) for child in data))
    return set()


def refresh_job_label(segment: Segment) -> str:
    """The label of a refresh job: what the home page shows, and how a segment finds its
    refresh jobs (the id is in the label; Job has no link to a segment)."""
    return f"Segment #{segment.pk} refresh: {segment.name}"[:200]


def segment_refresh_jobs(*, segment: Segment) -> QuerySet[Job]:
    """Refresh jobs of `segment`, newest first."""
    return Job.objects.filter(
        kind=REFRESH_JOB_KIND, label__startswith=f"Segment #{segment.pk} refresh:"
    ).order_by("-created_at", "-pk")


def latest_segment_refresh(*, segment: Segment) -> Job | None:
    """The newest refresh job of `segment`, if it was ever refreshed."""
    return segment_refresh_jobs(segment=segment).first()


def segment_summary(
    *, segment: Segment, as_of: datetime, show_pii: bool, sample_size: int
) -> dict[str, Any]:
    """The segment's size now, all customers, and its first `sample_size` members by
    customer_id (contact masked as the viewer needs), from one evaluation of the rules
    (COUNT(*) OVER () beside the first rows, as segment_preview). Raises RuleError when the
    stored rules no longer validate."""
    members = segment_members(segment=segment, as_of=as_of, as_of_is_now=True)
    sample = list(
        with_contact_shown(members, show_pii=show_pii)
        .annotate(matching=Window(Count("pk")))
        .order_by("customer_id")[: max(sample_size, 1)]
    )
    return {
        "count": sample[0].matching if sample else 0,
        "total": Customer.objects.count(),
        "sample": sample[:sample_size],
    }


def segment_members_for_list(
    *, segment: Segment, as_of: datetime, show_pii: bool
) -> QuerySet[Customer]:
    """Members as list rows and export lines (tags prefetched, contact masked in SQL);
    SegmentMemberFilterSet narrows and orders them."""
    members = segment_members(segment=segment, as_of=as_of, as_of_is_now=True)
    return with_contact_shown(
        members.prefetch_related("tags").order_by("customer_id"), show_pii=show_pii
    )


def member_export_rows(members: QuerySet[Customer]) -> Iterator[list[Any]]:
    """CSV lines (MEMBER_EXPORT_HEADER) of members from segment_members_for_list, streamed
    in chunks; moments in the operator's time zone."""
    for customer in members.iterator(chunk_size=MEMBER_EXPORT_CHUNK_SIZE):
        yield [
            customer.customer_id,
            customer.name,
            customer.phone_shown,
            customer.email_shown,
            customer.gender,
            customer.city,
            customer.region,
            customer.is_member,
            customer.member_tier,
            ";".join(tag.name for tag in customer.tags.all()),
            customer.lifecycle_stage,
            customer.rfm_group,
            customer.value_tier,
            customer.order_count,
            customer.total_spent,
            localtime(customer.last_order_at).isoformat() if customer.last_order_at else "",
        ]


def segments_to_compare(*, segment: Segment) -> QuerySet[Segment]:
    """The other segments, by name, for the overlap form and in_segment menus."""
    return Segment.objects.exclude(pk=segment.pk).order_by("name", "pk").only("pk", "name")


def field_values(*, field: str, search: str = "", limit: int = FIELD_VALUES_LIMIT) -> list[str]:
    """Codes of a text field (or purchase scope key) present in the data, most frequent
    first, optionally only those containing `search` (in any letter case).

    Rules match codes whatever their letter case and surrounding spaces, so each code is
    listed once, trimmed, in its most frequent spelling ("gold" for gold, Gold, gold).
    Raises KeyError for a field whose values do not come from the data."""
    model, column, present = VALUE_SOURCES[field]
    search = search.strip()

    def read() -> list[str]:
        rows = model.objects.filter(present)
        if search:
            rows = rows.filter(**{f"{column}__icontains": search})
        # One GROUP BY over the rows (a hash aggregate, as fast as grouping the column);
        # the spellings it leaves are few and ranked outside.
        spellings = (
            rows.order_by()
            .annotate(value_code=code(F(column)), spelling=trimmed(F(column)))
            .values("value_code", "spelling")
            .annotate(times=Count("pk"))
        )
        sql, params = spellings.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT spelling FROM ("
                "SELECT DISTINCT ON (value_code) value_code, spelling, "
                "sum(times) OVER (PARTITION BY value_code) AS total "
                f"FROM ({sql}) spellings WHERE value_code <> '' "
                "ORDER BY value_code, times DESC, spelling"
                ") codes ORDER BY total DESC, value_code LIMIT %s",
                (*params, limit),
            )
            return [spelling for (spelling,) in cursor.fetchall()]

    # The search text hashed: a key with spaces or control characters is refused by
    # memcached (Django warns, CacheKeyWarning) and an overlong one too.
    searched = hashlib.sha256(search.casefold().encode()).hexdigest()
    key = f"segments:field-values:{field}:{limit}:{searched}"
    return cache.get_or_set(key, read, FIELD_VALUES_CACHE_SECONDS)
