"""Segments (SPEC §2): named rule trees, frozen memberships and size history.

The rules are stored in the canonical form of segments.rules.canonical_rules, so equality
and audit diffs mean something; membership of a dynamic segment is never stored here, it
is compiled from the rules whenever it is used (segments.selectors).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.core.models import TimeStampedModel
from crm.models import Customer
from segments.enums import SegmentKind


class Segment(TimeStampedModel):
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    # SPEC §2 rule tree in canonical form; {} only for a snapshot uploaded as a list of ids.
    rules = models.JSONField(default=dict, blank=True)
    kind = models.CharField(max_length=8, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Set by the refresh: when the size was last counted (snapshot: when it was frozen).
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    # NULL until the first refresh, so "never counted" is not mistaken for "empty".
    member_count = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=SegmentKind.values), name="segment_kind_valid"
            ),
            # A dynamic segment without rules would silently match everybody.
            models.CheckConstraint(
                condition=Q(kind=SegmentKind.SNAPSHOT) | ~Q(rules={}),
                name="segment_dynamic_has_rules",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A customer frozen into a snapshot segment (by a refresh or an uploaded list)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            # Also the index of "is this customer in the segment" (segment first).
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_member_unique"),
        ]
        indexes = [models.Index(fields=["segment", "added_at"])]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.customer_id}"


class SegmentSizeSnapshot(models.Model):
    """The size of a segment at a moment, for the size-history chart."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="size_history")
    at = models.DateTimeField()
    size = models.PositiveIntegerField()

    class Meta:
        ordering = ["segment", "at"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "at"], name="segment_size_unique_at"),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}@{self.at:%Y-%m-%d %H:%M}: {self.size}"
