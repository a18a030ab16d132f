"""Importing orders and order items from CSV (SPEC §1 Ingestion)."""

import io
import textwrap
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from crm.core.models import Job
from crm.exceptions import ImportRefused
from crm.models import Customer, Order, OrderItem
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from crm.tasks import recompute_customer_metrics_task
from tests.factories import CustomerFactory, OrderFactory

UTC = ZoneInfo("UTC")
pytestmark = pytest.mark.django_db

HEADER = "order_id,customer_id,placed_at,amount,channel,store,city,status\n"


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def write_csv(tmp_path, text: str, name: str = "orders.csv"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def order_rows():
    return sorted(
        Order.objects.values_list(
            "order_id", "customer__customer_id", "placed_at", "amount", "channel", "store",
            "city", "status",
        )
    )  # fmt: skip


def test_stores_the_good_rows_and_reports_each_bad_row_with_its_line(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        HEADER
        + """\
        O1,C1,2026-03-01T10:00:00+08:00,100.00,app,S1,Shanghai,paid
        O2,C1,2026-13-01,10,app,,,
        O3,C2,2026-03-02,"12,5x",web,,,
        O4,C2,2026-03-02,5,web,,,lost
        ,C2,2026-03-02,5,web,,,
        O6,C2,2026-03-02,-5,web,,,
        O7,C2,2026-03-02,1.999,web,,,
        O8,C2,2026-03-02,7
        O9,,2026-03-02,7,web,,,
        O10,C2,2026-03-03T08:30:00+08:00,"1,234.50",web,S2,Beijing,refunded
        """,
    )

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(3, 'placed_at "2026-13-01" is not an ISO 8601 date or datetime'),
        RowError(4, 'amount "12,5x" is not a decimal amount'),
        RowError(5, 'status "lost" is not one of paid, refunded, cancelled'),
        RowError(6, "order_id missing"),
        RowError(7, 'amount "-5" is negative'),
        RowError(8, 'amount "1.999" has more than 2 decimal places'),
        RowError(9, "4 cells where the header has 8 columns"),
        RowError(10, "customer_id missing"),
    ]
    assert (result.created, result.updated, result.unchanged, result.refused) == (2, 0, 0, 8)
    assert order_rows() == [
        ("O1", "C1", datetime(2026, 3, 1, 2, 0, tzinfo=UTC), Decimal("100.00"), "app", "S1",
         "Shanghai", "paid"),
        ("O10", "C2", datetime(2026, 3, 3, 0, 30, tzinfo=UTC), Decimal("1234.50"), "web", "S2",
         "Beijing", "refunded"),
    ]  # fmt: skip


def test_reimporting_the_same_file_adds_and_rewrites_nothing(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        HEADER
        + """\
        O1,C1,2026-03-01,100,app,,,paid
        O2,C1,2026-03-02,50.5,web,,,refunded
        O3,C2,2026-03-03 09:00,7,store,S9,Wuhan,
        O4,C3,bad-date,7,store,S9,Wuhan,
        """,
    )
    import_csv_file(kind="orders", path=path, now=as_of)
    orders_before = list(Order.objects.order_by("pk").values())
    customers_before = list(Customer.objects.order_by("pk").values())

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of + timedelta(days=1))

    # then
    assert (result.created, result.updated, result.unchanged, result.refused) == (0, 0, 3, 1)
    assert result.placeholders_created == 0
    assert result.customers_recomputed == 0
    assert list(Order.objects.order_by("pk").values()) == orders_before
    assert list(Customer.objects.order_by("pk").values()) == customers_before


def test_a_changed_row_rewrites_only_that_order(tmp_path, as_of):
    # given
    first = write_csv(
        tmp_path, HEADER + "O1,C1,2026-03-01,100,app,,,paid\nO2,C1,2026-03-02,50,app,,,paid\n"
    )
    import_csv_file(kind="orders", path=first, now=as_of)
    untouched = Order.objects.get(order_id="O1").updated_at
    later = as_of + timedelta(hours=1)
    second = write_csv(
        tmp_path,
        HEADER + "O1,C1,2026-03-01,100,app,,,paid\nO2,C1,2026-03-02,50,app,,,refunded\n",
        name="again.csv",
    )

    # when
    result = import_csv_file(kind="orders", path=second, now=later)

    # then
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert Order.objects.get(order_id="O1").updated_at == untouched
    changed = Order.objects.get(order_id="O2")
    assert (changed.status, changed.updated_at) == ("refunded", later)


def test_orders_of_unknown_customers_create_them_as_placeholders(tmp_path, as_of):
    # given
    CustomerFactory(customer_id="C1", name="Known")
    path = write_csv(
        tmp_path,
        HEADER + "O1,C1,2026-03-01,10,app,,,\nO2,C9,2026-03-01,20,app,,,\nO3,C9,2026-03-02,5,,,,\n",
    )

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.placeholders_created == 1
    assert sorted(Customer.objects.values_list("customer_id", "name", "is_placeholder")) == [
        ("C1", "Known", False),
        ("C9", "", True),
    ]
    assert sorted(Order.objects.values_list("order_id", "customer__customer_id")) == [
        ("O1", "C1"),
        ("O2", "C9"),
        ("O3", "C9"),
    ]


LOCAL_MIDNIGHT = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
TEN_LOCAL = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("placed_at", "stored"),
    [
        pytest.param("2026-03-01", LOCAL_MIDNIGHT, id="date-is-local-midnight"),
        pytest.param("2026-03-01T10:00:00", TEN_LOCAL, id="no-offset-is-local"),
        pytest.param("2026-03-01 10:00", TEN_LOCAL, id="space-and-minutes"),
        pytest.param("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC), id="z"),
        pytest.param("2026-03-01T10:00-05:00", datetime(2026, 3, 1, 15, tzinfo=UTC), id="offset"),
        pytest.param(
            "2026-03-01T10:00:00.250+08:00",
            datetime(2026, 3, 1, 2, 0, 0, 250000, tzinfo=UTC),
            id="fraction",
        ),
    ],
)
def test_placed_at_takes_dates_and_datetimes_in_the_operators_time_zone(
    tmp_path, as_of, placed_at, stored
):
    # given
    path = write_csv(tmp_path, HEADER + f"O1,C1,{placed_at},10,app,,,\n")

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == []
    assert Order.objects.get().placed_at == stored


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        pytest.param('"1,234.50"', Decimal("1234.50"), id="thousands-separator"),
        pytest.param('"1,000,000"', Decimal("1000000.00"), id="millions"),
        pytest.param("1234.5", Decimal("1234.50"), id="one-decimal"),
        pytest.param("0.10", Decimal("0.10"), id="cents"),
        pytest.param("12.500", Decimal("12.50"), id="trailing-zeros"),
        pytest.param("0", Decimal("0.00"), id="zero"),
    ],
)
def test_amounts_take_a_decimal_point_and_thousands_separators(tmp_path, as_of, amount, stored):
    # given
    path = write_csv(tmp_path, HEADER + f"O1,C1,2026-03-01,{amount},app,,,\n")

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == []
    assert Order.objects.get().amount == stored


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        pytest.param('"12,5"', 'amount "12,5" is not a decimal amount', id="decimal-comma"),
        pytest.param('"1.234,50"', 'amount "1.234,50" is not a decimal amount', id="european"),
        pytest.param('"1,23.4"', 'amount "1,23.4" is not a decimal amount', id="bad-grouping"),
        pytest.param("1e3", 'amount "1e3" is not a decimal amount', id="exponent"),
        pytest.param("NaN", 'amount "NaN" is not a decimal amount', id="nan"),
        pytest.param("12.", 'amount "12." is not a decimal amount', id="bare-point"),
        pytest.param(
            "10000000000", 'amount "10000000000" is more than 9,999,999,999.99', id="too-large"
        ),
        pytest.param('""', "amount missing", id="blank"),
    ],
)
def test_refuses_amounts_that_are_not_plain_decimals(tmp_path, as_of, amount, reason):
    # given
    path = write_csv(tmp_path, HEADER + f"O1,C1,2026-03-01,{amount},app,,,\n")

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == [RowError(2, reason)]
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0


def test_columns_left_out_of_the_header_keep_their_stored_values(tmp_path, as_of):
    # given
    OrderFactory(order_id="O1", status="refunded", channel="store", store="S1", city="Wuhan")
    path = write_csv(tmp_path, "order_id,customer_id,placed_at,amount\nO1,C1,2026-03-01,99\n")

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    order = Order.objects.get()
    assert (result.updated, order.amount) == (1, Decimal("99.00"))
    assert (order.status, order.channel, order.store, order.city) == (
        "refunded",
        "store",
        "S1",
        "Wuhan",
    )


def test_a_blank_status_means_paid(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path, HEADER + "O1,C1,2026-03-01,10,app,,,\nO2,C1,2026-03-01,10,app,,,Paid\n"
    )

    # when
    import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert sorted(Order.objects.values_list("order_id", "status")) == [
        ("O1", "paid"),
        ("O2", "paid"),
    ]


def test_a_repeated_order_id_keeps_the_last_row_and_reports_the_earlier_one(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        HEADER
        + "O1,C1,2026-03-01,10,app,,,\nO2,C1,2026-03-01,20,app,,,\nO1,C1,2026-03-01,30,app,,,\n",
    )

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.errors == [RowError(2, 'order_id "O1" is repeated on line 4; the last row wins')]
    assert sorted(Order.objects.values_list("order_id", "amount")) == [
        ("O1", Decimal("30.00")),
        ("O2", Decimal("20.00")),
    ]


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        pytest.param(
            "order_id,customer_id,placed_at,amount,colour\nO1,C1,2026-03-01,1,red\n",
            'Unknown column "colour" in the header. The orders columns are: order_id, '
            "customer_id, placed_at, amount, channel, store, city, status, coupon_code.",
            id="unknown-column",
        ),
        pytest.param(
            "order_id,customer_id,channel\nO1,C1,app\n",
            'Missing required columns "placed_at", "amount".',
            id="missing-columns",
        ),
        pytest.param(
            "order_id,customer_id,placed_at,amount,amount\nO1,C1,2026-03-01,1,1\n",
            'Column "amount" appears twice in the header.',
            id="duplicate-column",
        ),
        pytest.param(
            "order_id,customer_id,placed_at,amount,\nO1,C1,2026-03-01,1,\n",
            "Column 5 of the header has no name. The orders columns are: order_id, "
            "customer_id, placed_at, amount, channel, store, city, status, coupon_code.",
            id="unnamed-column",
        ),
        pytest.param("", "The file is empty; its first line must be the header row.", id="empty"),
    ],
)
def test_a_bad_header_refuses_the_file_before_any_row(tmp_path, as_of, content, detail):
    # given
    path = write_csv(tmp_path, content)

    # when
    with pytest.raises(ImportRefused) as refusal:
        import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert (refusal.value.reason, refusal.value.detail) == ("bad_header", detail)
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0
    job = Job.objects.get()
    assert (job.kind, job.status, job.message, job.done) == ("import_orders", "failed", detail, 0)


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        pytest.param(
            HEADER.encode() + "O1,C1,2026-03-01,1,app,Caf\xe9,,\n".encode("latin-1"),
            "The file is not UTF-8 text (byte 91); save it as CSV UTF-8.",
            id="latin-1",
        ),
        pytest.param(
            b"PK\x03\x04\x00\x00binary",
            "The file contains NUL bytes, so it is not CSV text (a spreadsheet? Save it as "
            "CSV UTF-8).",
            id="spreadsheet",
        ),
    ],
)
def test_a_file_that_is_not_utf8_text_is_refused_whole(tmp_path, as_of, content, detail):
    # given
    path = tmp_path / "orders.csv"
    path.write_bytes(content)

    # when
    with pytest.raises(ImportRefused) as refusal:
        import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert (refusal.value.reason, refusal.value.detail) == ("unreadable_file", detail)
    assert Order.objects.count() == 0


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path, as_of):
    # given
    path = tmp_path / "orders.csv"
    path.write_bytes(("\ufeff" + HEADER + "O1,C1,2026-03-01,1,app,Café,,\n").encode("utf-8"))

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert (result.created, Order.objects.get().store) == (1, "Café")


def test_imports_in_batches_and_records_progress_on_the_job(tmp_path, as_of):
    # given
    rows = "".join(f"O{n},C{n % 2},2026-03-0{n},{n},app,,,\n" for n in range(1, 6))
    path = write_csv(tmp_path, HEADER + rows + "O6,C1,never,1,app,,,\n")
    progress = []

    # when
    result = import_csv_file(
        kind="orders",
        path=path,
        now=as_of,
        batch_size=2,
        on_progress=lambda rows, total: progress.append((rows, total)),
    )

    # then
    assert progress == [(2, 6), (2, 6), (2, 6)]
    assert (result.created, result.refused) == (5, 1)
    job = Job.objects.get()
    assert (job.status, job.total, job.done, job.succeeded, job.failed) == (
        "succeeded",
        6,
        6,
        5,
        1,
    )
    assert job.errors == [
        {"line": 7, "reason": 'placed_at "never" is not an ISO 8601 date or datetime'}
    ]
    assert job.message == (
        "6 rows: 5 created, 0 updated, 0 unchanged, 1 refused; 2 unknown customers created "
        "as placeholders; metrics recomputed for 2 customers."
    )


def test_recomputes_the_metrics_of_the_imported_customers(tmp_path, as_of):
    # given: as_of is 2026-06-30 12:00 UTC
    other = CustomerFactory(customer_id="C7")
    path = write_csv(
        tmp_path,
        HEADER
        + """\
        O1,C1,2026-06-20T10:00:00+00:00,100.00,app,,,paid
        O2,C1,2026-06-25T10:00:00+00:00,"1,250.00",app,,,paid
        O3,C1,2026-06-26T10:00:00+00:00,999.00,app,,,refunded
        O4,C2,2026-01-05T10:00:00+00:00,80.00,web,,,paid
        """,
    )

    # when
    result = import_csv_file(kind="orders", path=path, now=as_of)

    # then
    assert result.customers_recomputed == 2
    first = Customer.objects.get(customer_id="C1")
    assert (
        first.order_count,
        first.total_spent,
        first.avg_order_value,
        first.first_order_at,
        first.last_order_at,
        first.lifecycle_stage,
        first.value_tier,
        first.is_returning,
    ) == (
        2,
        Decimal("1350.00"),
        Decimal("675.00"),
        datetime(2026, 6, 20, 10, tzinfo=UTC),
        datetime(2026, 6, 25, 10, tzinfo=UTC),
        "new",
        "medium",
        True,
    )
    second = Customer.objects.get(customer_id="C2")
    assert (second.order_count, second.total_spent, second.lifecycle_stage) == (
        1,
        Decimal("80.00"),
        "churned",
    )
    other.refresh_from_db()
    assert (other.order_count, other.lifecycle_stage) == (0, "potential")


def test_moving_an_order_to_another_customer_recomputes_both(tmp_path, as_of):
    # given
    path = write_csv(tmp_path, HEADER + "O1,C1,2026-06-20,100,app,,,\n")
    import_csv_file(kind="orders", path=path, now=as_of)
    moved = write_csv(tmp_path, HEADER + "O1,C2,2026-06-20,100,app,,,\n", name="moved.csv")

    # when
    result = import_csv_file(kind="orders", path=moved, now=as_of)

    # then
    assert (result.updated, result.customers_recomputed) == (1, 2)
    assert sorted(
        Customer.objects.values_list("customer_id", "order_count", "lifecycle_stage")
    ) == [
        ("C1", 0, "potential"),
        ("C2", 1, "new"),
    ]


def test_the_command_prints_the_summary_and_each_refused_row(tmp_path):
    # given
    path = write_csv(tmp_path, HEADER + "O1,C1,2026-03-01,10,app,,,\nO2,C1,2026-03-01,ten,app,,,\n")
    out, err = io.StringIO(), io.StringIO()

    # when
    call_command("import_orders", str(path), stdout=out, stderr=err)

    # then
    assert out.getvalue() == (
        "2 rows: 1 created, 0 updated, 0 unchanged, 1 refused; 1 unknown customer created as "
        "a placeholder; metrics recomputed for 1 customer.\n"
        'line 3: amount "ten" is not a decimal amount\n'
    )
    assert "orders.csv: 100%" in err.getvalue()
    assert Order.objects.count() == 1


def test_the_command_fails_on_a_bad_header_and_stores_nothing(tmp_path):
    # given
    path = write_csv(tmp_path, "order,customer\nO1,C1\n")

    # when
    with pytest.raises(CommandError) as error:
        call_command("import_orders", str(path))

    # then
    assert str(error.value).startswith('Unknown column "order" in the header.')
    assert Order.objects.count() == 0


def test_the_command_fails_on_a_missing_file(tmp_path):
    # when
    with pytest.raises(CommandError) as error:
        call_command("import_orders", str(tmp_path / "nope.csv"))

    # then
    assert str(error.value) == "The file cannot be read: No such file or directory."


ITEMS_HEADER = "order_id,sku,category,quantity,unit_price\n"


def test_imports_order_items_of_known_orders_and_refuses_the_others(tmp_path, as_of):
    # given
    OrderFactory(order_id="O1", customer=CustomerFactory(customer_id="C1"))
    path = write_csv(
        tmp_path,
        ITEMS_HEADER
        + """\
        O1,SKU1,nuts,2,"1,049.90"
        O1,SKU2,,1,5
        O9,SKU1,nuts,1,5
        O1,SKU3,nuts,0,5
        O1,SKU4,nuts,1.5,5
        O1,,nuts,1,5
        """,
        name="items.csv",
    )

    # when
    result = import_csv_file(kind="order_items", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(4, 'order_id "O9" is not a known order'),
        RowError(5, 'quantity "0" is not a whole number of at least 1'),
        RowError(6, 'quantity "1.5" is not a whole number of at least 1'),
        RowError(7, "sku missing"),
    ]
    assert sorted(
        OrderItem.objects.values_list(
            "order__order_id", "sku", "category", "quantity", "unit_price"
        )
    ) == [("O1", "SKU1", "nuts", 2, Decimal("1049.90")), ("O1", "SKU2", "", 1, Decimal("5.00"))]


def test_reimporting_order_items_is_a_no_op_and_a_change_recomputes_the_customer(tmp_path, as_of):
    # given
    OrderFactory(
        order_id="O1",
        customer=CustomerFactory(customer_id="C1"),
        placed_at=datetime(2026, 6, 1, tzinfo=UTC),
    )
    path = write_csv(tmp_path, ITEMS_HEADER + "O1,SKU1,nuts,1,10\nO1,SKU2,tea,1,20\n")
    import_csv_file(kind="order_items", path=path, now=as_of)
    before = {item["sku"]: item for item in OrderItem.objects.values()}
    assert Customer.objects.get(customer_id="C1").preferred_category == "tea"

    # when
    again = import_csv_file(kind="order_items", path=path, now=as_of)
    changed = import_csv_file(
        kind="order_items",
        path=write_csv(tmp_path, ITEMS_HEADER + "O1,SKU1,nuts,5,10\n", name="more.csv"),
        now=as_of,
    )

    # then
    assert (again.created, again.updated, again.unchanged, again.customers_recomputed) == (
        0,
        0,
        2,
        0,
    )
    assert list(OrderItem.objects.filter(sku="SKU2").values()) == [before["SKU2"]]
    assert (changed.updated, changed.customers_recomputed) == (1, 1)
    assert Customer.objects.get(customer_id="C1").preferred_category == "nuts"


def test_the_nightly_task_recomputes_every_customers_metrics():
    # given: orders stored without going through an import
    first = CustomerFactory(customer_id="C1")
    OrderFactory(customer=first, amount=Decimal("30.00"))
    OrderFactory(customer=first, amount=Decimal("20.00"), status="refunded")
    CustomerFactory(customer_id="C2")

    # when
    recompute_customer_metrics_task()

    # then
    assert sorted(Customer.objects.values_list("customer_id", "order_count", "total_spent")) == [
        ("C1", 1, Decimal("30.00")),
        ("C2", 0, Decimal("0.00")),
    ]
