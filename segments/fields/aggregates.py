"""Per-customer aggregates (counts, sums, first/last times) as semi-joins on Customer.pk.

A condition on an aggregate becomes `pk IN (SELECT customer ... GROUP BY customer HAVING
...)`. A customer without rows has no group: when such a customer meets the condition
("fewer than 3 orders", "= 0", "between 0 and 2") the condition is compiled as the
complement of the customers whose group fails it, `NOT (pk IN (...))`. Both forms are
never NULL (customer ids are NOT NULL), so NOT stays exact; and neither joins rows into the
outer query, so a customer is never counted twice. Measured on 1M customers / 10M orders:
the GROUP BY semi-join ran at 1.5x hand-written SQL, a correlated Subquery in Coalesce at
6.0x and annotate(Count) over a JOIN at 19.4x (STYLE §2.4).

Sibling conditions of one AllOf over the same rows share one GROUP BY (`merged_condition`):
"3+ orders and 500+ spent in the last 180 days" is one `pk IN (... GROUP BY customer HAVING
count >= 3 AND sum >= 500)`, not two semi-joins that each group the same 180 days of orders
(1.60x the hand-written SQL as two, see bench/bench_segments.py rule 5). Why it is exact: a
customer without rows fails every term that a customer without rows fails, so if any term
is such a "positive" one the conjunction is exactly the groups meeting every term; if none
is, a customer without rows meets them all and the conjunction is the complement of the
groups failing one of them. Each term's measure is never NULL inside a group (counts, sums
and maxima of NOT NULL columns over at least one row), so a negated term is exact in HAVING.

A count or sum of the paid orders of a window also joins the group of a wider period of the
same orders (`regrouped`), counted there with a FILTER on its window: a customer with
orders in the wide period but none in the window gets the count 0 and the sum 0 there,
exactly what a customer without rows has. "Growing as of 1 March, 2 orders in its last 90
days and a weekend buyer" is then one GROUP BY of the orders up to 1 March (1.60x the
hand-written SQL as two, see bench/bench_as_of.py).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import reduce
from operator import and_
from typing import TYPE_CHECKING, Any

from django.db.models import Aggregate, Count, Exists, Expression, OuterRef, Q, QuerySet, Sum

from segments.catalogue import InstantRange
from segments.enums import Operator
from segments.fields.lookups import comparison, zero_matches

if TYPE_CHECKING:
    from segments.rules import PurchaseScope

MEASURE = "measure"


@dataclass(frozen=True)
class RowSet:
    """Which rows an aggregate runs over; equal RowSets select the same rows.

    `table` names the rows ("orders", "lines", "events"), `period` the instants they fall in
    (already cut at as_of), `scope` the other filters (a PurchaseScope, an event kind).
    """

    table: str
    period: InstantRange
    scope: "PurchaseScope | str | None" = None


@dataclass(frozen=True, eq=False)
class AggregateTerm:
    """One condition on one per-customer aggregate of a RowSet.

    `matched(alias)` is the condition on the measure once annotated as `alias`.
    `grouped` is False for terms that compile alone to a plain EXISTS or NOT EXISTS (a count
    of at least 1, or of 0; the last order after a moment): merged with a GROUP BY they cost
    nothing extra, but on their own (or only with each other) they are cheaper unmerged.
    `fits` is set for terms that other row sets can answer too: the last order lies in a
    range exactly when the last of the rows of any period containing the range (up to
    as_of) does. Such a term joins a group of another RowSet when `fits(row_set)` is true,
    measured there by `regrouped(row_set)` when set (else by `measure` unchanged).
    `can_anchor` terms form a group of their own RowSet when none of another fits them.
    """

    rows: QuerySet
    row_set: RowSet
    customer: str
    measure: Aggregate | Expression
    matched: Callable[[str], Q]
    matches_customers_without_rows: bool
    grouped: bool = True
    fits: Callable[[RowSet], bool] | None = None
    regrouped: Callable[[RowSet], Aggregate | Expression] | None = None
    can_anchor: bool = False

    def measure_in(self, row_set: RowSet) -> Aggregate | Expression:
        """The measure evaluated in a group of `row_set` (its own, or one it fits)."""
        if row_set == self.row_set or self.regrouped is None:
            return self.measure
        return self.regrouped(row_set)

    def negated(self) -> "AggregateTerm":
        """The term of NOT this condition (exact: the measure is never NULL in a group)."""
        matched = self.matched
        return replace(
            self,
            matched=lambda alias: ~matched(alias),
            matches_customers_without_rows=not self.matches_customers_without_rows,
        )


def aggregate_condition(
    rows: QuerySet,
    *,
    customer: str,
    measure: Aggregate,
    matched: Q,
    matches_customers_without_rows: bool,
) -> Q:
    """Customers whose rows' `measure` meets `matched` (a Q over MEASURE).

    `rows` are the rows that count (already windowed and scoped); `customer` is their path
    to the customer id (e.g. "customer" or "order__customer").
    """
    groups = rows.order_by().values(customer).annotate(**{MEASURE: measure})
    if matches_customers_without_rows:
        return ~Q(pk__in=groups.exclude(matched).values(customer))
    return Q(pk__in=groups.filter(matched).values(customer))


def number_term(
    rows: QuerySet,
    *,
    row_set: RowSet,
    customer: str,
    measure: Aggregate,
    op: Operator,
    value: Any,
) -> AggregateTerm:
    """A comparison of a count or a sum, where a customer without rows counts as 0."""
    windowed_orders = (
        row_set.table == "orders"
        and customer == "customer"
        and row_set.period.lower is not None
        and isinstance(measure, Count | Sum)
    )

    def fits(group: RowSet) -> bool:
        return (
            group.table == "orders"
            and group.scope == row_set.scope
            and group != row_set
            and covers(group.period, row_set.period)
        )

    def regrouped(group: RowSet) -> Aggregate:
        counted = measure.copy()
        counted.filter = Q(**row_set.period.lookups("placed_at"))
        return counted

    return AggregateTerm(
        rows=rows,
        row_set=row_set,
        customer=customer,
        measure=measure,
        matched=lambda alias: comparison(alias, op, value),
        matches_customers_without_rows=zero_matches(op, value),
        grouped=not (isinstance(measure, Count) and _existence(op, value) is not None),
        fits=fits if windowed_orders else None,
        regrouped=regrouped if windowed_orders else None,
        can_anchor=windowed_orders,
    )


def number_condition(term: AggregateTerm, *, op: Operator, value: Any) -> Q:
    """A number_term compiled on its own.

    A count of at least 1 is existence and a count of 0 its complement: those compile to a
    plain semi-join on the rows, without the GROUP BY (which has to count every row).
    """
    if not term.grouped:
        found = customers_with_rows(term.rows, customer=term.customer)
        return found if _existence(op, value) else ~found
    return aggregate_condition(
        term.rows,
        customer=term.customer,
        measure=term.measure,
        matched=term.matched(MEASURE),
        matches_customers_without_rows=term.matches_customers_without_rows,
    )


def _existence(op: Operator, value: Any) -> bool | None:
    """True for "count >= 1", False for "count = 0", None for any other count condition."""
    if (op, value) in ((Operator.GTE, 1), (Operator.GT, 0)):
        return True
    if (op, value) in ((Operator.EQ, 0), (Operator.LT, 1), (Operator.LTE, 0)):
        return False
    return None


def customers_with_rows(rows: QuerySet, *, customer: str) -> Q:
    """Customers with at least one of `rows`: EXISTS, correlated on the customer.

    Not `pk IN (rows)`: negated, that is `NOT IN`, which PostgreSQL can never turn into an
    anti-join, and once the rows outgrow work_mem it rescans them for every customer (a
    "cart in 7 days, no order" preview ran for 17 minutes on 1M customers that way).
    EXISTS becomes a semi- or anti-join, or else an index probe per customer.
    """
    return Q(Exists(rows.order_by().filter(**{customer: OuterRef("pk")})))


def contains(outer: InstantRange, inner: InstantRange) -> bool:
    """Whether every instant of `inner` lies in `outer`, as far as their lower ends go."""
    if outer.lower is None:
        return True
    if inner.lower is None:
        return False
    if inner.lower != outer.lower:
        return inner.lower > outer.lower
    return outer.lower_inclusive or not inner.lower_inclusive


def covers(outer: InstantRange, inner: InstantRange) -> bool:
    """Whether every instant of `inner` lies in `outer`, at both ends."""
    if not contains(outer, inner):
        return False
    if outer.upper is None:
        return True
    if inner.upper is None:
        return False
    if inner.upper != outer.upper:
        return inner.upper < outer.upper
    return outer.upper_inclusive or not inner.upper_inclusive


def mergeable_groups(terms: Sequence[AggregateTerm]) -> list[tuple[RowSet, list[int]]]:
    """The RowSets and positions of the terms that share one GROUP BY, each group in the
    terms' order.

    Terms of equal RowSets group together; a term with `fits` joins the first group whose
    RowSet it fits, or else, if it `can_anchor`, the group of its own RowSet. A group is only
    worth merging when one of its terms needs the GROUP BY anyway and it holds at least two
    terms.
    """
    groups: dict[RowSet, list[int]] = {}
    floating = []
    for position, term in enumerate(terms):
        if term.fits is None:
            groups.setdefault(term.row_set, []).append(position)
        else:
            floating.append(position)

    def worth(positions: list[int]) -> bool:
        return any(terms[position].grouped for position in positions)

    for position in floating:
        term = terms[position]
        fitting = [
            positions
            for row_set, positions in groups.items()
            if worth(positions) and term.fits(row_set)
        ]
        if fitting:
            fitting[0].append(position)
        elif term.can_anchor:
            groups.setdefault(term.row_set, []).append(position)
    return [
        (row_set, sorted(positions))
        for row_set, positions in groups.items()
        if worth(positions) and len(positions) > 1
    ]


def merged_condition(terms: Sequence[AggregateTerm], *, row_set: RowSet) -> Q:
    """The conjunction of terms over one RowSet (a group of mergeable_groups) as one
    semi-join: one GROUP BY, the terms' conditions ANDed in HAVING (see the module
    docstring for why this is exact)."""
    anchor = next(term for term in terms if term.row_set == row_set)
    aliases = [f"{MEASURE}_{position}" for position in range(len(terms))]
    groups = (
        anchor.rows.order_by()
        .values(anchor.customer)
        .annotate(
            **{alias: term.measure_in(row_set) for alias, term in zip(aliases, terms, strict=True)}
        )
    )
    matched = reduce(
        and_, (term.matched(alias) for alias, term in zip(aliases, terms, strict=True))
    )
    if all(term.matches_customers_without_rows for term in terms):
        return ~Q(pk__in=groups.exclude(matched).values(anchor.customer))
    return Q(pk__in=groups.filter(matched).values(anchor.customer))
