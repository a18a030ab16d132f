"""One person seen in several systems is one customer (SPEC §1 Identity)."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm.models import BehaviourEvent, Customer, Identity, Order, StageChange, Tag
from crm.services.imports.results import RowError
from crm.services.imports.runs import import_csv_file
from tests.factories import BehaviourEventFactory, CustomerFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
ORDERS = "order_id,customer_id,placed_at,amount\n"


def write_csv(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def import_orders(tmp_path, as_of, rows: str):
    return import_csv_file(
        kind="orders", path=write_csv(tmp_path, "orders.csv", ORDERS + rows), now=as_of
    )


def import_customers(tmp_path, as_of, text: str):
    return import_csv_file(
        kind="customers", path=write_csv(tmp_path, "customers.csv", text), now=as_of
    )


def identities():
    return sorted(Identity.objects.values_list("source", "external_id", "customer__customer_id"))


def test_an_order_for_an_unknown_identity_creates_a_placeholder_known_by_it(tmp_path, as_of):
    # when
    result = import_orders(tmp_path, as_of, "O1,mini_program:oX81,2026-06-01,10\n")

    # then
    assert result.placeholders_created == 1
    assert list(Customer.objects.values_list("customer_id", "is_placeholder")) == [
        ("mini_program:oX81", True)
    ]
    assert identities() == [("mini_program", "oX81", "mini_program:oX81")]
    assert Order.objects.get().customer.customer_id == "mini_program:oX81"


def test_a_known_identity_resolves_to_its_customer(tmp_path, as_of):
    # given
    customer = CustomerFactory(customer_id="C1")
    Identity.objects.create(customer=customer, source="app", external_id="U-77")

    # when
    result = import_orders(tmp_path, as_of, "O1,app:U-77,2026-06-01,10\nO2,C1,2026-06-02,5\n")

    # then
    assert (result.created, result.placeholders_created) == (2, 0)
    assert list(Customer.objects.values_list("customer_id", flat=True)) == ["C1"]
    assert set(Order.objects.values_list("customer_id", flat=True)) == {customer.pk}
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (2, Decimal("15.00"))


def test_an_external_id_may_contain_colons(tmp_path, as_of):
    # when
    import_orders(tmp_path, as_of, "O1,partner:a:b,2026-06-01,10\n")

    # then
    assert identities() == [("partner", "a:b", "partner:a:b")]


def test_a_reference_longer_than_a_customer_id_gets_a_shortened_placeholder(tmp_path, as_of):
    # given
    external_id = "x" * 100

    # when
    import_orders(tmp_path, as_of, f"O1,app:{external_id},2026-06-01,10\n")

    # then
    placeholder = Customer.objects.get()
    assert len(placeholder.customer_id) == 64
    assert placeholder.customer_id.startswith("app:xxxx")
    assert identities() == [("app", external_id, placeholder.customer_id)]


def test_a_malformed_reference_is_refused(tmp_path, as_of):
    # when
    result = import_orders(
        tmp_path, as_of, "O1,mini program:oX81,2026-06-01,10\nO2,app:,2026-06-01,1\n"
    )

    # then
    assert result.errors == [
        RowError(
            2,
            'customer_id "mini program:oX81" is not a customer id or a source:external_id '
            "reference",
        ),
        RowError(3, 'customer_id "app:" is not a customer id or a source:external_id reference'),
    ]
    assert Customer.objects.count() == 0


def test_linking_an_identity_merges_its_placeholder_into_the_customer(tmp_path, as_of):
    # given: orders and events arrived for the mini-program user before the customer file
    import_orders(tmp_path, as_of, "O1,mini_program:oX81,2026-06-20,100\n")
    placeholder = Customer.objects.get(customer_id="mini_program:oX81")
    placeholder.tags.add(Tag.objects.create(name="from_mini_program"))
    seen = datetime(2026, 6, 19, 8, 0, tzinfo=UTC)
    BehaviourEventFactory(customer=placeholder, kind="visit", occurred_at=seen)
    BehaviourEventFactory(customer=placeholder, kind="login", occurred_at=seen)
    real = CustomerFactory(customer_id="C1", name="Li Wei")
    BehaviourEventFactory(customer=real, kind="visit", occurred_at=seen)
    Identity.objects.create(customer=real, source="app", external_id="U1")

    # when
    result = import_customers(
        tmp_path, as_of, "customer_id,identities\nC1,mini_program:oX81;app:U1\n"
    )

    # then
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    assert list(Customer.objects.values_list("customer_id", flat=True)) == ["C1"]
    assert identities() == [("app", "U1", "C1"), ("mini_program", "oX81", "C1")]
    assert list(Order.objects.values_list("order_id", "customer__customer_id")) == [("O1", "C1")]
    assert sorted(BehaviourEvent.objects.values_list("kind", "customer__customer_id")) == [
        ("login", "C1"),
        ("visit", "C1"),
    ]
    real.refresh_from_db()
    assert list(real.tags.values_list("name", flat=True)) == ["from_mini_program"]
    assert (real.name, real.order_count, real.total_spent, real.lifecycle_stage) == (
        "Li Wei",
        1,
        Decimal("100.00"),
        "new",
    )
    assert list(StageChange.objects.values_list("customer__customer_id", "to_stage")) == [
        ("C1", "new")
    ]


def test_after_a_merge_the_identity_keeps_resolving_to_the_customer(tmp_path, as_of):
    # given
    import_orders(tmp_path, as_of, "O1,mini_program:oX81,2026-06-20,100\n")
    import_customers(tmp_path, as_of, "customer_id,name,identities\nC1,Li Wei,mini_program:oX81\n")

    # when
    result = import_orders(tmp_path, as_of, "O2,mini_program:oX81,2026-06-21,50\n")

    # then
    assert result.placeholders_created == 0
    customer = Customer.objects.get()
    assert (customer.customer_id, customer.order_count) == ("C1", 2)


def test_linking_an_identity_another_real_customer_has_is_refused(tmp_path, as_of):
    # given
    owner = CustomerFactory(customer_id="C2")
    Identity.objects.create(customer=owner, source="app", external_id="U1")

    # when
    result = import_customers(
        tmp_path,
        as_of,
        "customer_id,name,identities\nC1,Li Wei,app:U1\nC3,Zhao,app:U3\n",
    )

    # then
    assert result.errors == [RowError(2, 'identity app:U1 already belongs to customer "C2"')]
    assert (result.created, result.refused) == (1, 1)
    assert sorted(Customer.objects.values_list("customer_id", flat=True)) == ["C2", "C3"]
    assert identities() == [("app", "U1", "C2"), ("app", "U3", "C3")]


def test_an_identity_linked_twice_in_one_file_stays_with_the_first_customer(tmp_path, as_of):
    # when
    result = import_customers(
        tmp_path, as_of, "customer_id,identities\nC1,app:U1\nC2,wechat:W2;app:U1\n"
    )

    # then
    assert result.errors == [
        RowError(3, 'identity app:U1 is already linked to customer "C1" on line 2')
    ]
    assert list(Customer.objects.values_list("customer_id", flat=True)) == ["C1"]
    assert identities() == [("app", "U1", "C1")]


def test_a_malformed_identity_in_a_customer_file_is_refused(tmp_path, as_of):
    # when
    result = import_customers(tmp_path, as_of, "customer_id,identities\nC1,app:U1;U2\n")

    # then
    assert result.errors == [RowError(2, 'identity "U2" is not a source:external_id reference')]
    assert Customer.objects.count() == 0
    assert Identity.objects.count() == 0


def test_relinking_the_same_identities_changes_nothing(tmp_path, as_of):
    # given
    import_customers(tmp_path, as_of, "customer_id,identities\nC1,app:U1;wechat:W1\n")
    before = list(Identity.objects.order_by("pk").values())

    # when
    result = import_customers(tmp_path, as_of, "customer_id,identities\nC1,app:U1\n")

    # then
    assert (result.updated, result.unchanged) == (0, 1)
    assert list(Identity.objects.order_by("pk").values()) == before
