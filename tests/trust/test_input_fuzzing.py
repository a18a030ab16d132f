"""Fuzzing the two doors that take arbitrary input from people and pipelines: the CSV
importers and the rule-tree validator. Nothing crashes; every bad input is a clear error
naming its place; every good row is kept (SPEC §1 Ingestion, §2, §10)."""

import csv
import io
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.exceptions import ImportRefused
from crm.models import Customer, Order
from crm.services.imports.runs import import_csv_file
from segments.catalogue import FIELDS
from segments.compiler import compile_rule_tree
from segments.rules import RuleError, parse_rule_tree

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# ---------------------------------------------------------------------------------------
# Rule trees: anything JSON can hold, biased towards what a rule tree looks like.

NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\uff27\uff4f\uff4c\uff44",
        "'; DROP TABLE crm_customer; --",
        "%",
        "_",
        "\\",
        "🍒",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    NASTY_TEXT,
    st.sampled_from(["2026-06-30", "2026-02-30", "9999-12-31", "0001-01-01", "2026-06-30T25:00"]),
)
FIELD_NAMES = st.sampled_from([*FIELDS, "nope", "", "\x00"])
OPERATORS = st.sampled_from(
    [
        "eq",
        "ne",
        "gt",
        "gte",
        "lt",
        "lte",
        "between",
        "in",
        "not_in",
        "has",
        "not_has",
        "is_null",
        "before",
        "after",
        "within_last_days",
        "like",
        "",
    ]
)


def json_values(children):
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=6), children, max_size=4),
    )


ANY_JSON = st.recursive(SCALARS, json_values, max_leaves=12)
CONDITIONS = st.fixed_dictionaries(
    {"field": FIELD_NAMES, "op": OPERATORS, "value": ANY_JSON},
    optional={
        "window": st.one_of(
            ANY_JSON,
            st.fixed_dictionaries({"last_days": st.integers(-5, 10**9)}),
            st.fixed_dictionaries({"from": SCALARS, "to": SCALARS}),
        ),
        "kind": st.one_of(st.sampled_from(["visit", "login", "bogus"]), SCALARS),
        "category": SCALARS,
        "store": SCALARS,
    },
)
RULE_TREES = st.recursive(
    st.one_of(CONDITIONS, ANY_JSON),
    lambda children: st.one_of(
        st.fixed_dictionaries({"all": st.lists(children, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(children, max_size=3)}),
        st.fixed_dictionaries({"not": children}),
    ),
    max_leaves=8,
)


@FUZZ_SETTINGS
@given(rules=RULE_TREES)
def test_any_rule_tree_is_either_refused_with_its_node_or_answered(db, rules):
    # when the validator reads it
    try:
        node = parse_rule_tree(rules)
    except RuleError as refusal:
        refused = refusal
    else:
        refused = None
    # then a refusal says what is wrong (and where, for a node below the root)
    if refused is not None:
        assert refused.message
        return
    # else the compiled rule runs on the database without error
    with transaction.atomic():
        Customer.objects.filter(compile_rule_tree(node, as_of=NOW)).count()


# ---------------------------------------------------------------------------------------
# CSV imports: good rows mixed with rows that each break one cell.

GOOD_ORDERS = st.fixed_dictionaries(
    {
        "placed_at": st.datetimes(
            min_value=datetime(1990, 1, 1),  # noqa: DTZ001 - local times, as files hold them
            max_value=datetime(2026, 6, 29),  # noqa: DTZ001
        ).map(lambda moment: moment.replace(microsecond=0).isoformat(sep=" ")),
        "amount": st.decimals(min_value=0, max_value=99999, places=2).map(str),
        "channel": st.sampled_from(["", "app", "web", "store"]),
        "status": st.sampled_from(["", "paid", "refunded", "cancelled"]),
    }
)
BAD_CELLS = {
    "placed_at": [
        "",
        "yesterday",
        "2026-02-30",
        "9999-12-31T23:59:59-12:00",
        "1969-12-31",
        "2031-01-01",
        "a\x00b",
    ],
    "amount": ["", "ten", "1e400", "-5", "12.345", "NaN", "9" * 40, "\x00"],
    "status": ["lost", "PAID!", "\x00"],
    "customer_id": ["", "\x00", "x" * 500],
    "channel": ["a\x00", "c" * 500],
}


@FUZZ_SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            GOOD_ORDERS,
            st.one_of(
                st.none(),
                st.sampled_from(
                    [(column, cell) for column, cells in BAD_CELLS.items() for cell in cells]
                ),
            ),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_an_orders_file_keeps_every_good_row_and_names_every_bad_line(db, rows):
    # given a file whose rows are good except those with one broken cell
    handle = io.StringIO()
    writer = csv.writer(handle)
    writer.writerow(["order_id", "customer_id", "placed_at", "amount", "channel", "status"])
    good, bad_lines = {}, []
    for number, (order, broken) in enumerate(rows):
        cells = {"order_id": f"F{number}", "customer_id": f"C{number % 3}", **order}
        if broken is None:
            good[cells["order_id"]] = cells
        else:
            column, value = broken
            cells[column] = value
            bad_lines.append(number + 2)  # the header is line 1
        writer.writerow(
            [
                cells[name]
                for name in ("order_id", "customer_id", "placed_at", "amount", "channel", "status")
            ]
        )
    with tempfile.TemporaryDirectory() as folder, transaction.atomic():
        path = Path(folder) / "orders.csv"
        path.write_text(handle.getvalue(), encoding="utf-8")

        # when it is imported
        result = import_csv_file(kind="orders", path=path, now=NOW)

        # then every good row is stored as written, and every bad line is reported
        stored = {order.order_id: order for order in Order.objects.filter(order_id__in=list(good))}
        assert set(stored) == set(good)
        for order_id, cells in good.items():
            assert stored[order_id].amount == Decimal(cells["amount"])
            assert stored[order_id].status == (cells["status"] or "paid")
        assert sorted(error.position for error in result.errors) == bad_lines
        assert all(error.reason for error in result.errors)
        assert not Order.objects.exclude(order_id__in=list(good)).exists()
        transaction.set_rollback(True)


@FUZZ_SETTINGS
@given(header=st.lists(st.one_of(st.text(max_size=10), NASTY_TEXT), max_size=6))
def test_a_file_with_any_header_is_imported_or_refused_whole_with_a_reason(db, header):
    with tempfile.TemporaryDirectory() as folder, transaction.atomic():
        path = Path(folder) / "orders.csv"
        handle = io.StringIO()
        csv.writer(handle).writerow(header)
        path.write_text(handle.getvalue(), encoding="utf-8")
        try:
            import_csv_file(kind="orders", path=path, now=NOW)
        except ImportRefused as refusal:
            refused = refusal
        else:
            refused = None
        assert refused is None or refused.detail
        assert not Order.objects.exists()
        transaction.set_rollback(True)
