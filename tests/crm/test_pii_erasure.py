"""Erasing a customer's personal data on request keeps their anonymous history (SPEC §9)."""

import json
import logging
from datetime import date
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from crm.core.models import AuditEntry
from crm.models import BehaviourEvent, Customer, Identity, Order, OrderItem
from crm.services.erasure import ErasureResult, erase_customer_pii
from tests.factories import (
    BehaviourEventFactory,
    CustomerFactory,
    OrderFactory,
    OrderItemFactory,
)

CHANGELIST = reverse("admin:crm_customer_changelist")


@pytest.fixture
def customer(db):
    customer = CustomerFactory(
        customer_id="C1",
        name="Alice Wang",
        phone="13812345678",
        email="alice@example.com",
        birth_date=date(1990, 5, 17),
        city="Shanghai",
        order_count=1,
        total_spent=Decimal("100.00"),
    )
    Identity.objects.create(customer=customer, source="wechat", external_id="wx-1")
    Identity.objects.create(customer=customer, source="app", external_id="app-1")
    OrderItemFactory(order=OrderFactory(customer=customer, order_id="O1"))
    BehaviourEventFactory(customer=customer)
    return customer


@pytest.fixture
def bystander(db):
    other = CustomerFactory(customer_id="C2", name="Bob", phone="13900000000", email="b@x.cn")
    Identity.objects.create(customer=other, source="wechat", external_id="wx-2")
    return other


def test_erasure_blanks_personal_fields_and_keeps_the_history(customer, bystander, support, as_of):
    # when
    result = erase_customer_pii(customer=customer, requested_by=support, now=as_of)

    # then
    assert result == ErasureResult(customer_id="C1", identities_deleted=2)
    erased = Customer.objects.get(pk=customer.pk)
    assert (erased.name, erased.phone, erased.email, erased.birth_date) == ("", "", "", None)
    assert erased.pii_erased_at == as_of
    assert (erased.customer_id, erased.city, erased.order_count, erased.total_spent) == (
        "C1",
        "Shanghai",
        1,
        Decimal("100.00"),
    )
    assert Identity.objects.filter(customer=customer).count() == 0
    assert list(Order.objects.filter(customer=customer).values_list("order_id", flat=True)) == [
        "O1"
    ]
    assert OrderItem.objects.filter(order__customer=customer).count() == 1
    assert BehaviourEvent.objects.filter(customer=customer).count() == 1


def test_erasure_leaves_other_customers_alone(customer, bystander, support, as_of):
    # when
    erase_customer_pii(customer=customer, requested_by=support, now=as_of)

    # then
    untouched = Customer.objects.get(pk=bystander.pk)
    assert (untouched.name, untouched.phone, untouched.email, untouched.pii_erased_at) == (
        "Bob",
        "13900000000",
        "b@x.cn",
        None,
    )
    assert list(Identity.objects.values_list("external_id", flat=True)) == ["wx-2"]


def test_erasure_is_audited_without_the_erased_values(customer, support, as_of):
    # when
    erase_customer_pii(customer=customer, requested_by=support, now=as_of)

    # then
    entry = AuditEntry.objects.get()
    assert (entry.at, entry.actor, entry.action, entry.object_type, entry.object_id) == (
        as_of,
        support,
        "erase_customer_pii",
        "customer",
        "C1",
    )
    assert entry.changes == {
        "erased_fields": ["name", "phone", "email", "birth_date"],
        "identities_deleted": 2,
    }
    recorded = json.dumps(entry.changes) + entry.reason
    for personal in ("Alice", "13812345678", "alice@example.com", "1990", "wx-1"):
        assert personal not in recorded


def test_admin_action_asks_for_confirmation_before_erasing(client, support, customer):
    # given
    client.force_login(support)

    # when
    response = client.post(
        CHANGELIST, {"action": "erase_personal_data", ACTION_CHECKBOX_NAME: [customer.pk]}
    )

    # then
    assert response.status_code == 200
    assert "This cannot be undone" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).phone == "13812345678"
    assert Identity.objects.filter(customer=customer).count() == 2
    assert AuditEntry.objects.count() == 0


def test_admin_action_erases_after_confirmation_and_logs_no_pii(
    client, support, customer, bystander, caplog
):
    # given
    client.force_login(support)
    caplog.set_level(logging.DEBUG)

    # when
    response = client.post(
        CHANGELIST,
        {
            "action": "erase_personal_data",
            ACTION_CHECKBOX_NAME: [customer.pk],
            # as the confirmation page posts them
            "select_across": "0",
            "index": "0",
            "confirm": "yes",
        },
        follow=True,
    )

    # then
    assert response.status_code == 200
    assert "Erased the personal data of 1 customer;" in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).phone == ""
    assert Customer.objects.get(pk=bystander.pk).phone == "13900000000"
    assert AuditEntry.objects.get().actor == support
    for personal in ("Alice", "13812345678", "alice@example.com"):
        assert personal not in caplog.text


def test_staff_without_change_permission_cannot_erase(client, customer):
    # given a staff member who may only read customers
    reader = User.objects.create_user(username="reader", password="pw", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(reader)

    # when
    response = client.post(
        CHANGELIST,
        {"action": "erase_personal_data", ACTION_CHECKBOX_NAME: [customer.pk], "confirm": "yes"},
    )

    # then
    assert "erase_personal_data" not in client.get(CHANGELIST).content.decode()
    assert response.status_code == 200
    assert Customer.objects.get(pk=customer.pk).phone == "13812345678"
    assert AuditEntry.objects.count() == 0


def test_erased_customer_is_no_longer_found_by_phone(client, marketer, customer, support, as_of):
    # given
    erase_customer_pii(customer=customer, requested_by=support, now=as_of)
    client.force_login(marketer)

    # when
    response = client.get(reverse("customer-list"), {"q": "13812345678"})

    # then
    assert list(response.context["customers"]) == []
    detail = client.get(reverse("customer-detail", args=["C1"])).content.decode()
    assert "Personal data erased on" in detail
