"""Per-customer aggregates (counts, sums, first/last times) as semi-joins on Customer.pk.

A condition on an aggregate becomes `pk IN (SELECT customer ... GROUP BY customer HAVING
...)`. A customer without rows has no group: when such a customer meets the condition
("fewer than 3 orders", "= 0", "between 0 and 2") the condition is compiled as the
complement of the customers whose group fails it, `NOT (pk IN (...))`. Both forms are
never NULL (customer ids are NOT NULL), so NOT stays exact; and neither joins rows into the
outer query, so a customer is never counted twice. Measured on 1M customers / 10M orders:
the GROUP BY semi-join ran at 1.5x hand-written SQL, a correlated Subquery in Coalesce at
6.0x and annotate(Count) over a JOIN at 19.4x (STYLE §2.4).
"""

from django.db.models import Aggregate, Count, Exists, OuterRef, Q, QuerySet

from segments.enums import Operator
from segments.fields.lookups import comparison, zero_matches

MEASURE = "measure"


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


def number_condition(
    rows: QuerySet, *, customer: str, measure: Aggregate, op: Operator, value: object
) -> Q:
    """A comparison of a count or a sum, where a customer without rows counts as 0.

    A count of at least 1 is existence and a count of 0 its complement: those compile to a
    plain semi-join on the rows, without the GROUP BY (which has to count every row).
    """
    if isinstance(measure, Count):
        if (op, value) in ((Operator.GTE, 1), (Operator.GT, 0)):
            return customers_with_rows(rows, customer=customer)
        if (op, value) in ((Operator.EQ, 0), (Operator.LT, 1), (Operator.LTE, 0)):
            return ~customers_with_rows(rows, customer=customer)
    return aggregate_condition(
        rows,
        customer=customer,
        measure=measure,
        matched=comparison(MEASURE, op, value),
        matches_customers_without_rows=zero_matches(op, value),
    )


def customers_with_rows(rows: QuerySet, *, customer: str) -> Q:
    """Customers with at least one of `rows`: EXISTS, correlated on the customer.

    Not `pk IN (rows)`: negated, that is `NOT IN`, which PostgreSQL can never turn into an
    anti-join, and once the rows outgrow work_mem it rescans them for every customer (a
    "cart in 7 days, no order" preview ran for 17 minutes on 1M customers that way).
    EXISTS becomes a semi- or anti-join, or else an index probe per customer.
    """
    return Q(Exists(rows.order_by().filter(**{customer: OuterRef("pk")})))
