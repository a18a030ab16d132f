"""Every order-derived field follows as_of on history imported today (SPEC §1-2).

Orders dated up to a year before are imported from CSV files, then every field is asked at
several past instants, on both sides of every lifecycle threshold (churn_days, silent_days,
new_days, mature_orders in window_days, the two windows of `declining`), the value tiers'
edges, RFM ties, local weekends and dayparts. The expected answers come from
tests/reference_measures.py, the README's definitions in plain Python over the orders this
test wrote; the answers checked are the segment compiler's (a past as_of) and the
recompute's (the columns it stores when run at that instant).
"""

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

from crm.models import Customer
from crm.selectors import stage_flows
from crm.services.imports.runs import import_csv_file
from crm.services.metrics import recompute_customer_metrics
from segments.compiler import compile_rule_tree
from segments.rules import parse_rule_tree
from tests import reference_measures as ref

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# A Saturday, 20:00 in Shanghai.
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
IMPORTED_AT = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
INSTANTS = [T - SECOND, T, T + 31 * DAY, T + 45 * DAY, T + 200 * DAY]


def o(moment, amount="100.00", *, status="paid", channel="app", coupon="", lines=None):
    return {
        "placed_at": moment,
        "amount": Decimal(amount),
        "status": status,
        "channel": channel,
        "coupon_code": coupon,
        "lines": lines if lines is not None else [("nuts", 1, Decimal(amount))],
    }


# Each customer's orders, placed relative to T; the name says what it tests at T.
HISTORY = {
    "CHURN_EDGE": [o(T - 90 * DAY)],  # exactly churn_days ago: silent, not churned
    "CHURNED": [o(T - 90 * DAY - SECOND)],
    "SILENT_EDGE": [o(T - 120 * DAY), o(T - 30 * DAY)],  # exactly silent_days ago: not silent
    "SILENT": [o(T - 120 * DAY), o(T - 30 * DAY - SECOND)],
    "NEW_EDGE": [o(T - 30 * DAY)],  # first exactly new_days ago: not new
    "NEW": [o(T - 30 * DAY + SECOND, channel="web")],
    "MATURE": [o(T - 100 * DAY)] + [o(T - d * DAY) for d in (29, 20, 10, 5, 1)],
    "MATURE_EDGE": [o(T - 100 * DAY)] + [o(T - d * DAY) for d in (30, 20, 10, 5, 1)],
    "DECLINING": [o(T - d * DAY) for d in (100, 59, 40, 10)],
    "DECLINING_EDGE": [o(T - d * DAY) for d in (100, 60, 40, 10)],  # 60 days: out of both
    "REFUNDED": [o(T - 200 * DAY), o(T - 10 * DAY, status="refunded")],
    "FUTURE": [o(T + 10 * DAY)],
    "HIGH_EDGE": [o(T - 50 * DAY, "1000.00"), o(T - 20 * DAY, "1000.00")],
    "MEDIUM_EDGE": [o(T - 50 * DAY, "250.00"), o(T - 20 * DAY, "250.00")],
    "LOW_EDGE": [o(T - 50 * DAY, "250.00"), o(T - 20 * DAY, "249.99")],
    "WEEKEND": [o(T - 7 * DAY), o(T - 6 * DAY), o(T - 9 * DAY)],  # Sat, Sun, Thu
    "HALF_WEEKEND": [o(T - 7 * DAY), o(T - 9 * DAY)],  # one of two: not more than half
    # Saturday 01:00 in Shanghai is Friday in UTC: the weekend is the operator's.
    "LOCAL_WEEKEND": [o(T - 7 * DAY - 19 * HOUR), o(T - 14 * DAY - 19 * HOUR), o(T - 4 * DAY)],
    "COUPONS": [o(T - 3 * DAY, coupon="SAVE8"), o(T - 4 * DAY), o(T - 5 * DAY, coupon="X")],
    "MORNING": [o(T - 10 * DAY - 10 * HOUR), o(T - 12 * DAY - 10 * HOUR), o(T - 2 * DAY)],
    "NIGHT_EDGE": [o(T - 3 * DAY + 3 * HOUR), o(T - 4 * DAY - 15 * HOUR)],  # 23:00, 05:00
    "CHANNEL_TIE": [o(T - 10 * DAY, channel="app"), o(T - 5 * DAY, channel="web")],
    "CATEGORY_TIE": [
        o(
            T - 6 * DAY,
            "40.00",
            lines=[("tea", 2, Decimal("10.00")), ("nuts", 1, Decimal("20.00"))],
        )
    ],
    "CATEGORY_SPEND": [
        o(T - 6 * DAY, "35.00", lines=[("tea", 3, Decimal("5.00")), ("jerky", 1, Decimal("20"))])
    ],
    "NO_CHANNEL": [o(T - 6 * DAY, channel="")],
    # RFM ties: equal counts and spend must score alike.
    **{f"TIE{n}": [o(T - 15 * DAY), o(T - 14 * DAY)] for n in range(4)},
}
PROSPECT = "PROSPECT"  # a customer without any order
CUSTOMERS = [*HISTORY, PROSPECT]

CHOICES = {
    "lifecycle_stage": ["potential", "churned", "silent", "new", "mature", "declining", "growing"],
    "value_tier": ["none", "low", "medium", "high"],
    "preferred_channel": ["app", "web"],
    "preferred_category": ["nuts", "tea", "jerky"],
    "usual_daypart": ["morning", "afternoon", "evening", "night"],
    "rfm_group": [
        "champions",
        "loyal",
        "potential_loyalist",
        "new_customers",
        "promising",
        "need_attention",
        "about_to_sleep",
        "at_risk",
        "cant_lose",
        "hibernating",
    ],
}


@pytest.fixture
def imported(tmp_path, settings):
    """Every HISTORY order and its lines imported from CSV files, and the prospect."""
    settings.TIME_ZONE = "Asia/Shanghai"
    customers = tmp_path / "customers.csv"
    customers.write_text(f"customer_id,name\n{PROSPECT},Nobody yet\n", encoding="utf-8")
    orders, lines = tmp_path / "orders.csv", tmp_path / "order_items.csv"
    with open(orders, "w", newline="") as order_file, open(lines, "w", newline="") as line_file:
        order_rows, line_rows = csv.writer(order_file), csv.writer(line_file)
        order_rows.writerow(
            ["order_id", "customer_id", "placed_at", "amount", "channel", "status", "coupon_code"]
        )
        line_rows.writerow(["order_id", "sku", "category", "quantity", "unit_price"])
        for customer_id, history in HISTORY.items():
            for number, order in enumerate(history):
                order_id = f"{customer_id}-{number}"
                order_rows.writerow(
                    [
                        order_id,
                        customer_id,
                        order["placed_at"].astimezone(SHANGHAI).isoformat(),
                        order["amount"],
                        order["channel"],
                        order["status"],
                        order["coupon_code"],
                    ]
                )
                for index, (category, quantity, price) in enumerate(order["lines"]):
                    line_rows.writerow([order_id, f"SKU{index}", category, quantity, price])
    for kind, path in (("customers", customers), ("orders", orders), ("order_items", lines)):
        result = import_csv_file(kind=kind, path=path, now=IMPORTED_AT)
        assert result.refused == 0, result.errors


def reference_orders() -> dict[str, list[ref.PlacedOrder]]:
    return {
        customer_id: [
            ref.PlacedOrder(
                placed_at=order["placed_at"],
                amount=order["amount"],
                status=order["status"],
                channel=order["channel"],
                coupon_code=order["coupon_code"],
                lines=tuple(ref.Line(*line) for line in order["lines"]),
            )
            for order in HISTORY.get(customer_id, [])
        ]
        for customer_id in CUSTOMERS
    }


def reference_values(as_of: datetime) -> dict[str, dict]:
    """Every customer's derived fields at as_of, from the definitions."""
    orders = reference_orders()
    scores = ref.rfm(orders, as_of)
    values = {}
    for customer_id, mine in orders.items():
        rfm = scores.get(customer_id)
        values[customer_id] = {
            "lifecycle_stage": ref.stage(mine, as_of),
            "value_tier": ref.value_tier(mine, as_of),
            "is_returning": ref.is_returning(mine, as_of),
            "weekend_buyer": ref.weekend_buyer(mine, as_of, SHANGHAI),
            "promotion_sensitivity": ref.promotion_sensitivity(mine, as_of),
            "preferred_channel": ref.preferred_channel(mine, as_of),
            "preferred_category": ref.preferred_category(mine, as_of),
            "usual_daypart": ref.usual_daypart(mine, as_of, SHANGHAI),
            "rfm_group": rfm.group if rfm else "",
            "rfm_recency": rfm.recency if rfm else None,
            "rfm_frequency": rfm.frequency if rfm else None,
            "rfm_monetary": rfm.monetary if rfm else None,
        }
    return values


def compiled(rules: dict, as_of: datetime) -> set[str]:
    condition = compile_rule_tree(parse_rule_tree(rules), as_of=as_of)
    return set(Customer.objects.filter(condition).values_list("customer_id", flat=True))


def questions() -> list[tuple[dict, callable]]:
    """(rule, the reference's test of one customer's values) for every field and value."""
    asked = []
    for field, choices in CHOICES.items():
        for choice in choices:
            asked.append(
                (
                    {"field": field, "op": "eq", "value": choice},
                    lambda values, field=field, choice=choice: values[field] == choice,
                )
            )
    for field in ("preferred_channel", "preferred_category", "usual_daypart", "rfm_group"):
        asked.append(
            (
                {"field": field, "op": "is_null", "value": True},
                lambda values, field=field: values[field] == "",
            )
        )
    for field in ("is_returning", "weekend_buyer"):
        for flag in (True, False):
            asked.append(
                (
                    {"field": field, "op": "eq", "value": flag},
                    lambda values, field=field, flag=flag: values[field] is flag,
                )
            )
    for field in ("weekend_buyer", "promotion_sensitivity", "rfm_recency", "rfm_monetary"):
        asked.append(
            (
                {"field": field, "op": "is_null", "value": True},
                lambda values, field=field: values[field] is None,
            )
        )
    for share in ("0", "0.3333", "0.5", "1"):
        asked.append(
            (
                {"field": "promotion_sensitivity", "op": "gte", "value": share},
                lambda values, share=share: (
                    values["promotion_sensitivity"] is not None
                    and values["promotion_sensitivity"] >= Decimal(share)
                ),
            )
        )
    for field in ("rfm_recency", "rfm_frequency", "rfm_monetary"):
        for score in range(1, 6):
            asked.append(
                (
                    {"field": field, "op": "eq", "value": score},
                    lambda values, field=field, score=score: values[field] == score,
                )
            )
    return asked


@pytest.mark.parametrize("as_of", INSTANTS, ids=lambda moment: moment.isoformat())
def test_every_derived_field_asked_in_the_past_answers_from_the_imported_orders(imported, as_of):
    # given the definitions' answers at as_of
    expected = reference_values(as_of)
    # when each field and value is asked at as_of, then its customers are exactly those
    for rules, meets in questions():
        wanted = {customer for customer, values in expected.items() if meets(values)}
        assert compiled(rules, as_of) == wanted, rules
        assert compiled({"not": rules}, as_of) == set(CUSTOMERS) - wanted, rules


def test_the_thresholds_decide_the_stages_of_the_edge_customers(imported):
    # The reference's answers on the threshold edges, spelled out (a check of the reference).
    stages = {
        customer: values["lifecycle_stage"] for customer, values in reference_values(T).items()
    }
    assert {
        customer: stages[customer]
        for customer in HISTORY
        if "EDGE" in customer
        or customer in {"CHURNED", "SILENT", "NEW", "MATURE", "DECLINING", "REFUNDED", "FUTURE"}
    } == {
        "CHURN_EDGE": "silent",
        "CHURNED": "churned",
        "SILENT_EDGE": "declining",
        "SILENT": "silent",
        "NEW_EDGE": "declining",
        "NEW": "new",
        "MATURE": "mature",
        "MATURE_EDGE": "growing",
        "DECLINING": "declining",
        "DECLINING_EDGE": "growing",
        "REFUNDED": "churned",
        "FUTURE": "potential",
        "HIGH_EDGE": "growing",
        "MEDIUM_EDGE": "growing",
        "LOW_EDGE": "growing",
        "NIGHT_EDGE": "new",
    }
    assert compiled({"field": "lifecycle_stage", "op": "eq", "value": "churned"}, T) == {
        "CHURNED",
        "REFUNDED",
    }


@pytest.mark.parametrize("as_of", INSTANTS, ids=lambda moment: moment.isoformat())
def test_the_recompute_at_an_instant_stores_the_definitions_values(imported, as_of):
    # given the definitions' answers at as_of
    expected = reference_values(as_of)
    with transaction.atomic():
        # when the recompute runs at that instant (a full run: the edges of the instant)
        recompute_customer_metrics(as_of=as_of)
        # then every stored column holds the definition's value
        stored = {
            row["customer_id"]: row
            for row in Customer.objects.values("customer_id", *next(iter(expected.values())))
        }
        for customer_id, values in expected.items():
            assert stored[customer_id] == {"customer_id": customer_id, **values}, customer_id
        transaction.set_rollback(True)


def test_an_import_leaves_planner_statistics_good_enough_for_a_date_window(tmp_path, settings):
    # given empty order tables that autovacuum will not analyse
    settings.TIME_ZONE = "Asia/Shanghai"
    with connection.cursor() as cursor:
        for table in ("crm_order", "crm_customer", "crm_orderitem"):
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
    start = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    path = tmp_path / "orders.csv"
    with open(path, "w", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerow(["order_id", "customer_id", "placed_at", "amount", "status"])
        for number in range(6000):
            placed = start + timedelta(hours=2 * number)  # 500 days
            status = "refunded" if number % 10 == 0 else "paid"
            rows.writerow([f"O{number}", f"C{number % 900}", placed.isoformat(), "50.00", status])

    # when the orders are imported
    import_csv_file(kind="orders", path=path, now=IMPORTED_AT)

    # then the planner's estimate of the paid orders of a 20-day window is within 10x
    window = (start + 100 * DAY, start + 120 * DAY)
    true_count = sum(
        1
        for number in range(6000)
        if number % 10 != 0 and window[0] < start + timedelta(hours=2 * number) <= window[1]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (FORMAT JSON) SELECT * FROM crm_order"
            " WHERE status = 'paid' AND placed_at > %s AND placed_at <= %s",
            window,
        )
        estimate = cursor.fetchone()[0][0]["Plan"]["Plan Rows"]
    assert true_count == 216
    assert true_count / 10 <= estimate <= true_count * 10


def test_flows_between_stages_come_from_the_stage_at_the_period_ends(imported):
    # given no stage change was ever recorded (the history was imported today)
    start, end = T, T + 45 * DAY
    before, after = reference_values(start), reference_values(end)
    expected = Counter(
        (before[customer]["lifecycle_stage"], after[customer]["lifecycle_stage"])
        for customer in CUSTOMERS
    )
    # when
    flows = stage_flows(start=start, end=end)
    # then
    assert {(flow.from_stage, flow.to_stage): flow.customers for flow in flows} == expected
    assert ("new", "churned") not in expected  # nobody goes from new to churned in 45 days
    # FUTURE's only order came 10 days after T: potential then, silent 35 days later.
    assert (before["FUTURE"]["lifecycle_stage"], after["FUTURE"]["lifecycle_stage"]) == (
        "potential",
        "silent",
    )
