"""Importing customers from CSV (SPEC §1 Ingestion)."""

import textwrap
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm.core.models import Job
from crm.exceptions import ImportRefused
from crm.models import Customer, Tag
from crm.services.erasure import erase_customer_pii
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
HEADER = (
    "customer_id,name,phone,email,gender,birth_date,city,region,occupation,is_member,"
    "member_tier,registered_at,tags\n"
)


@pytest.fixture(autouse=True)
def _shanghai_time(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


def write_csv(tmp_path, text: str, name: str = "customers.csv"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def tags_of(customer_id: str) -> list[str]:
    return sorted(Customer.objects.get(customer_id=customer_id).tags.values_list("name", flat=True))


def test_stores_every_column_of_a_good_row(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        HEADER + "C1,Li Wei,13800138000,li@example.com,female,1990-05-17,Shanghai,East,teacher,yes,"
        "gold,2024-01-02 09:30,vip; coffee ;vip\n",
    )

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then
    assert (result.created, result.updated, result.unchanged, result.refused) == (1, 0, 0, 0)
    customer = Customer.objects.get()
    assert (
        customer.customer_id,
        customer.name,
        customer.phone,
        customer.email,
        customer.gender,
        customer.birth_date,
        customer.city,
        customer.region,
        customer.occupation,
        customer.is_member,
        customer.member_tier,
        customer.registered_at,
        customer.is_placeholder,
    ) == (
        "C1",
        "Li Wei",
        "13800138000",
        "li@example.com",
        "female",
        date(1990, 5, 17),
        "Shanghai",
        "East",
        "teacher",
        True,
        "gold",
        datetime(2024, 1, 2, 1, 30, tzinfo=UTC),
        False,
    )
    assert tags_of("C1") == ["coffee", "vip"]


def test_reports_each_bad_row_and_stores_the_good_ones(tmp_path, as_of):
    # given
    long_tag = "t" * 61
    path = write_csv(
        tmp_path,
        HEADER
        + f"""\
        C1,Good,,,male,,,,,no,,,
        C2,,,,unknown,,,,,,,,
        C3,,,,,1990-02-30,,,,,,,
        C4,,,,,,,,,maybe,,,
        C5,,,not-an-email,,,,,,,,,
        app:123,,,,,,,,,,,,
        ,Nobody,,,,,,,,,,,
        C8,,,,,,,,,,,yesterday,
        C9,,,,,,,,,,,,{long_tag}
        C10,Also good,,,,,,,,,,,
        """,
    )

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(3, 'gender "unknown" is not one of female, male, other'),
        RowError(4, "birth_date is not an ISO 8601 date (YYYY-MM-DD)"),
        RowError(5, 'is_member "maybe" is not true or false'),
        RowError(6, "email is not an e-mail address"),
        RowError(
            7,
            'customer_id "app:123" contains ":", which only identity references '
            "(source:external_id) may",
        ),
        RowError(8, "customer_id missing"),
        RowError(9, 'registered_at "yesterday" is not an ISO 8601 date or datetime'),
        RowError(10, f'tag "{"t" * 39}…" is longer than 60 characters'),
    ]
    assert sorted(Customer.objects.values_list("customer_id", "name")) == [
        ("C1", "Good"),
        ("C10", "Also good"),
    ]


def test_reimporting_the_same_file_adds_and_rewrites_nothing(tmp_path, as_of):
    # given
    path = write_csv(
        tmp_path,
        HEADER
        + """\
        C1,Li Wei,138,li@example.com,female,1990-05-17,Shanghai,,,true,gold,2024-01-02,vip;new
        C2,Wang Fang,,,,,Beijing,,,false,,,
        """,
    )
    import_csv_file(kind="customers", path=path, now=as_of)
    before = list(Customer.objects.order_by("pk").values())
    tags_before = sorted(Customer.tags.through.objects.values_list("customer_id", "tag_id"))

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of + timedelta(days=1))

    # then
    assert (result.created, result.updated, result.unchanged, result.customers_recomputed) == (
        0,
        0,
        2,
        0,
    )
    assert list(Customer.objects.order_by("pk").values()) == before
    assert sorted(Customer.tags.through.objects.values_list("customer_id", "tag_id")) == tags_before
    assert Tag.objects.count() == 2


def test_columns_left_out_of_the_file_keep_their_values(tmp_path, as_of):
    # given
    CustomerFactory(customer_id="C1", name="Li Wei", city="Shanghai", phone="138")
    path = write_csv(tmp_path, "customer_id,city\nC1,Hangzhou\n")

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then
    customer = Customer.objects.get()
    assert result.updated == 1
    assert (customer.name, customer.city, customer.phone) == ("Li Wei", "Hangzhou", "138")


def test_the_tags_column_is_the_customers_whole_tag_list(tmp_path, as_of):
    # given
    import_csv_file(
        kind="customers", path=write_csv(tmp_path, "customer_id,tags\nC1,vip;coffee\n"), now=as_of
    )

    # when
    result = import_csv_file(
        kind="customers",
        path=write_csv(tmp_path, "customer_id,tags\nC1,coffee;tea\n", name="retag.csv"),
        now=as_of,
    )

    # then
    assert (result.updated, result.unchanged) == (1, 0)
    assert tags_of("C1") == ["coffee", "tea"]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["coffee", "tea", "vip"]


def test_a_placeholder_created_by_an_order_becomes_the_imported_customer(tmp_path, as_of):
    # given
    import_csv_file(
        kind="orders",
        path=write_csv(
            tmp_path, "order_id,customer_id,placed_at,amount\nO1,C9,2026-06-01,10\n", "o.csv"
        ),
        now=as_of,
    )

    # when
    result = import_csv_file(
        kind="customers", path=write_csv(tmp_path, "customer_id,name\nC9,Zhao Lei\n"), now=as_of
    )

    # then
    assert (result.created, result.updated) == (0, 1)
    customer = Customer.objects.get()
    assert (customer.customer_id, customer.name, customer.is_placeholder, customer.order_count) == (
        "C9",
        "Zhao Lei",
        False,
        1,
    )


def test_an_erased_customer_gets_no_personal_data_back(tmp_path, as_of, admin_user):
    # given
    customer = CustomerFactory(customer_id="C1", name="Li Wei", phone="138", city="Shanghai")
    erase_customer_pii(customer=customer, requested_by=admin_user, now=as_of)
    path = write_csv(
        tmp_path,
        "customer_id,name,phone,email,birth_date,city\n"
        "C1,Li Wei,138,li@example.com,1990-01-01,Wuhan\n",
    )

    # when
    import_csv_file(kind="customers", path=path, now=as_of)

    # then
    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.email, customer.birth_date) == (
        "",
        "",
        "",
        None,
    )
    assert customer.city == "Wuhan"


def test_repeated_customer_ids_keep_the_last_row(tmp_path, as_of):
    # given
    path = write_csv(tmp_path, "customer_id,name\nC1,First\nC2,Other\nC1,Second\nC1,Third\n")

    # when
    result = import_csv_file(kind="customers", path=path, now=as_of)

    # then
    assert result.errors == [
        RowError(2, 'customer_id "C1" is repeated on line 5; the last row wins'),
        RowError(4, 'customer_id "C1" is repeated on line 5; the last row wins'),
    ]
    assert sorted(Customer.objects.values_list("customer_id", "name")) == [
        ("C1", "Third"),
        ("C2", "Other"),
    ]


def test_a_bad_header_refuses_the_file_and_writes_nothing(tmp_path, as_of):
    # given
    path = write_csv(tmp_path, "name,city\nLi Wei,Shanghai\n")

    # when
    with pytest.raises(ImportRefused) as refusal:
        import_csv_file(kind="customers", path=path, now=as_of)

    # then
    assert refusal.value.detail == 'Missing required column "customer_id".'
    assert Customer.objects.count() == 0
    assert Job.objects.get().status == "failed"
