"""Reads of the customer-data domain for pages, exports and the admin.

Lists never query per row: what a row shows is annotated or prefetched here. Phone and
e-mail reach a viewer without the PII permission only masked, and the masking happens in
SQL (`with_contact_shown`), so the unmasked values never leave the database for them.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Concat, Left, Length, Right, StrIndex, Substr
from django.db.models.lookups import GreaterThanOrEqual

from crm import measures
from crm.core.models import Job
from crm.core.replica import report_cursor
from crm.enums import ImportKind, LifecycleStage
from crm.models import BehaviourEvent, Customer, Order, PointsEntry, StageChange
from crm.services.imports.layouts import LAYOUTS

# The dashboard's "last 30 days" window (paid orders, GMV, active customers).
RECENT_DAYS = 30
# How much history the customer 360 page shows; the full history is in the admin and API.
PROFILE_LATEST_ORDERS = 20
PROFILE_LATEST_EVENTS = 30
PROFILE_STAGE_HISTORY = 30
PROFILE_POINTS_LEDGER = 10
# Job.kind of an import: this prefix and the ImportKind value ("import_orders").
IMPORT_JOB_KIND_PREFIX = "import_"

# Phones shorter than this show no digits at all when masked: keeping 3 + 4 digits of a
# short number would reveal most of it.
_MIN_MASKABLE_PHONE_LENGTH = 8


@dataclass(frozen=True)
class BaseCounts:
    """Headline figures of the customer base as of a moment."""

    customers: int
    members: int
    paying_customers: int
    recent_paid_orders: int
    recent_gmv: Decimal
    active_customers: int
    recent_days: int = RECENT_DAYS


@dataclass(frozen=True)
class StageCount:
    stage: str
    label: str
    customers: int


@dataclass(frozen=True)
class StageFlow:
    """How many customers were in `from_stage` at a period's start and in `to_stage` at
    its end."""

    from_stage: str
    to_stage: str
    customers: int


@dataclass(frozen=True)
class Dashboard:
    """Everything the home page shows."""

    counts: BaseCounts
    # The same figures one period earlier: what changed.
    previous: BaseCounts
    stages: list[StageCount]
    recent_jobs: list[Job]


@dataclass(frozen=True)
class LayoutDescription:
    """The columns one kind of import file takes, as the upload page lists them."""

    kind: str
    label: str
    required: tuple[str, ...]
    optional: tuple[str, ...]


def masked_phone_expression():
    """SQL for a masked phone: 13812345678 -> 138****5678; short numbers -> ****."""
    return Case(
        When(phone="", then=Value("")),
        When(
            GreaterThanOrEqual(Length("phone"), _MIN_MASKABLE_PHONE_LENGTH),
            then=Concat(Left("phone", 3), Value("****"), Right("phone", 4)),
        ),
        default=Value("****"),
        output_field=CharField(),
    )


def masked_email_expression():
    """SQL for a masked e-mail: alice@example.com -> a***@example.com."""
    return Case(
        When(email="", then=Value("")),
        When(
            email__contains="@",
            then=Concat(
                Left("email", 1), Value("***"), Substr("email", StrIndex("email", Value("@")))
            ),
        ),
        default=Value("***"),
        output_field=CharField(),
    )


def with_contact_shown(queryset: QuerySet, *, show_pii: bool) -> QuerySet:
    """Annotate `phone_shown` and `email_shown`: the real values or their masks.

    Without the PII permission the raw columns are also deferred, so a template that
    reaches for `customer.phone` by mistake costs a visible extra query per row (which the
    query-count tests catch) instead of silently leaking the number.
    """
    if show_pii:
        return queryset.annotate(phone_shown=F("phone"), email_shown=F("email"))
    return queryset.annotate(
        phone_shown=masked_phone_expression(), email_shown=masked_email_expression()
    ).defer("phone", "email")


def base_counts(*, as_of: datetime) -> BaseCounts:
    """Headline counts of the customer base as of `as_of` (two aggregate queries).

    Paying customers have at least one paid order placed at or before `as_of`; the recent
    figures cover paid orders placed in (as_of - RECENT_DAYS days, as_of]; active customers
    placed at least one of them.
    """
    paid_before = Order.objects.paid().placed_between(None, as_of)
    customers = Customer.objects.aggregate(
        customers=Count("pk"),
        members=Count("pk", filter=Q(is_member=True)),
        paying_customers=Count(
            "pk", filter=Q(Exists(paid_before.filter(customer_id=OuterRef("pk"))))
        ),
    )
    recent = (
        Order.objects.paid()
        .placed_between(as_of - timedelta(days=RECENT_DAYS), as_of)
        .aggregate(
            orders=Count("pk"),
            gmv=Sum("amount"),
            customers=Count("customer_id", distinct=True),
        )
    )
    return BaseCounts(
        customers=customers["customers"],
        members=customers["members"],
        paying_customers=customers["paying_customers"],
        recent_paid_orders=recent["orders"],
        recent_gmv=recent["gmv"] or Decimal("0.00"),
        active_customers=recent["customers"],
    )


def lifecycle_stage_counts() -> list[StageCount]:
    """Customers per lifecycle stage, every stage listed in rule order (zeros included).

    Stages are the stored ones, i.e. as of the last metrics recompute.
    """
    counts = dict(
        Customer.objects.order_by()
        .values_list("lifecycle_stage")
        .annotate(customers=Count("pk"))
        .values_list("lifecycle_stage", "customers")
    )
    return [
        StageCount(stage=stage.value, label=stage.label, customers=counts.get(stage.value, 0))
        for stage in LifecycleStage
    ]


def stages_at(moment: datetime) -> measures.Sql:
    """SELECT (customer_id, stage) of every customer with a paid order at `moment`, by the
    stage definition (crm.measures) at that moment; the others are `potential` then."""
    stage = measures.lifecycle_stage(
        measures.ORDER_ALIAS, measures.current_thresholds(), as_of=moment
    )
    source = measures.paid_orders_up_to(as_of=moment).clause
    return measures.Sql(
        f"SELECT o.customer_id, {stage.text} AS stage {source.text} GROUP BY o.customer_id",
        (*stage.params, *source.params),
    )


def stage_flows(
    *, start: datetime, end: datetime, within: measures.Sql | None = None
) -> list[StageFlow]:
    """Customers by (stage at `start`, stage at `end`), every pair that holds someone,
    staying ones included, in rule order; `within`: a SELECT of the customer ids to count
    (default all).

    Both stages come from the stage definition (crm.measures) at the period's ends, so
    history imported today has flows too; the recorded stage changes are not read.
    Customers without a paid order at a moment are `potential` then.
    """
    before, after = stages_at(start), stages_at(end)
    scope = within or measures.Sql("SELECT id FROM crm_customer")
    with report_cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(b.stage, 'potential'), COALESCE(a.stage, 'potential'), COUNT(*)
            FROM crm_customer c
            LEFT JOIN ({before.text}) b ON b.customer_id = c.id
            LEFT JOIN ({after.text}) a ON a.customer_id = c.id
            WHERE c.id IN ({scope.text})
            GROUP BY 1, 2
            """,
            (*before.params, *after.params, *scope.params),
        )
        rows = cursor.fetchall()
    order = [stage.value for stage in LifecycleStage]
    return sorted(
        (StageFlow(from_stage=b, to_stage=a, customers=n) for b, a, n in rows),
        key=lambda flow: (order.index(flow.from_stage), order.index(flow.to_stage)),
    )


def recent_jobs(*, limit: int = 8) -> list[Job]:
    """The latest background jobs (imports, refreshes), newest first."""
    return list(Job.objects.select_related("created_by").order_by("-created_at", "-pk")[:limit])


def dashboard(*, as_of: datetime) -> Dashboard:
    """The home page's figures: base counts now and RECENT_DAYS earlier, stage distribution
    and recent jobs."""
    return Dashboard(
        counts=base_counts(as_of=as_of),
        previous=base_counts(as_of=as_of - timedelta(days=RECENT_DAYS)),
        stages=lifecycle_stage_counts(),
        recent_jobs=recent_jobs(),
    )


def import_jobs() -> QuerySet[Job]:
    """Import jobs, newest first, with who started them and the kind in words."""
    kind_label = Case(
        *(
            When(kind=IMPORT_JOB_KIND_PREFIX + kind, then=Value(label))
            for kind, label in ImportKind.choices
        ),
        default=Value(""),
    )
    return (
        Job.objects.filter(kind__startswith=IMPORT_JOB_KIND_PREFIX)
        .select_related("created_by")
        .annotate(kind_label=kind_label)
        .order_by("-created_at", "-pk")
    )


def import_layouts() -> list[LayoutDescription]:
    """The columns each kind of file takes, for the upload page."""
    return [
        LayoutDescription(
            kind=kind,
            label=ImportKind(kind).label,
            required=tuple(c.name for c in layout.columns if c.required),
            optional=tuple(c.name for c in layout.columns if not c.required),
        )
        for kind, layout in LAYOUTS.items()
    ]


def customers_for_list(*, show_pii: bool) -> QuerySet[Customer]:
    """Customers as list rows and export lines: contact masked as needed, tags prefetched.

    Filtering and ordering are applied on top by `crm.filters.CustomerFilterSet`.
    """
    queryset = Customer.objects.prefetch_related("tags").order_by("customer_id")
    return with_contact_shown(queryset, show_pii=show_pii)


def customer_profile(*, customer_id: str, show_pii: bool) -> Customer:
    """One customer with everything the 360 page shows, in a fixed number of queries.

    Prefetched: identities, tags, `stage_history` (latest first), `latest_orders` with
    their items, `latest_events` and `latest_points` (ledger rows), each limited to the
    page's constants.
    Raises Customer.DoesNotExist for an unknown customer_id.
    """
    queryset = Customer.objects.prefetch_related(
        "identities",
        "tags",
        Prefetch(
            "stage_changes",
            queryset=StageChange.objects.order_by("-changed_at", "-pk")[:PROFILE_STAGE_HISTORY],
            to_attr="stage_history",
        ),
        Prefetch(
            "orders",
            queryset=Order.objects.order_by("-placed_at", "-pk").prefetch_related("items")[
                :PROFILE_LATEST_ORDERS
            ],
            to_attr="latest_orders",
        ),
        Prefetch(
            "events",
            queryset=BehaviourEvent.objects.order_by("-occurred_at", "-pk")[:PROFILE_LATEST_EVENTS],
            to_attr="latest_events",
        ),
        Prefetch(
            "points_ledger",
            queryset=PointsEntry.objects.order_by("-at", "-pk")[:PROFILE_POINTS_LEDGER],
            to_attr="latest_points",
        ),
    )
    return with_contact_shown(queryset, show_pii=show_pii).get(customer_id=customer_id)


def customer_by_id(*, customer_id: str) -> Customer:
    """The customer with this external id (raises Customer.DoesNotExist, also for an id no
    customer can have: PostgreSQL text cannot hold a NUL)."""
    if "\x00" in customer_id:
        raise Customer.DoesNotExist(customer_id)
    return Customer.objects.only("pk", "customer_id").get(customer_id=customer_id)


def points_ledger(*, customer_id: str) -> QuerySet[PointsEntry]:
    """The customer's points ledger, newest first (raises Customer.DoesNotExist for an
    unknown external id)."""
    customer = customer_by_id(customer_id=customer_id)
    return PointsEntry.objects.filter(customer=customer).order_by("-at", "-pk")
