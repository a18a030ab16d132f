"""Phone and e-mail are masked for viewers without the PII permission (SPEC §9).

Everywhere a customer is shown: the list, the 360 page, the CSV export and the admin.
"""

import csv
import io

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from tests.factories import CustomerFactory

PHONE, MASKED_PHONE = "13812345678", "138****5678"
EMAIL, MASKED_EMAIL = "alice@example.com", "a***@example.com"


@pytest.fixture
def customer(db):
    return CustomerFactory(customer_id="C1", name="Alice", phone=PHONE, email=EMAIL)


def page_text(client, name: str) -> str:
    if name == "export":
        response = client.get(reverse("customer-export"))
        return b"".join(response.streaming_content).decode()
    if name == "detail":
        return client.get(reverse("customer-detail", args=["C1"])).content.decode()
    return client.get(reverse("customer-list")).content.decode()


@pytest.mark.parametrize("role", ["marketer", "analyst"])
@pytest.mark.parametrize("page", ["list", "detail", "export"])
def test_pages_mask_contact_without_the_pii_permission(client, customer, request, role, page):
    # given
    client.force_login(request.getfixturevalue(role))

    # when
    text = page_text(client, page)

    # then
    assert MASKED_PHONE in text
    assert MASKED_EMAIL in text
    assert PHONE not in text
    assert EMAIL not in text


@pytest.mark.parametrize("page", ["list", "detail", "export"])
def test_pages_show_contact_with_the_pii_permission(client, customer, marketer, page):
    # given
    marketer.user_permissions.add(Permission.objects.get(codename="view_customer_pii"))
    client.force_login(User.objects.get(pk=marketer.pk))

    # when
    text = page_text(client, page)

    # then
    assert PHONE in text
    assert EMAIL in text
    assert MASKED_PHONE not in text


def test_export_masks_every_row(client, marketer):
    # given
    CustomerFactory(customer_id="C1", phone="13800000001", email="ann@shop.cn")
    CustomerFactory(customer_id="C2", phone="12345", email="not-an-email")
    CustomerFactory(customer_id="C3", phone="", email="")
    client.force_login(marketer)

    # when
    response = client.get(reverse("customer-export"))

    # then
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["customer_id"], row["phone"], row["email"]) for row in rows] == [
        ("C1", "138****0001", "a***@shop.cn"),
        ("C2", "****", "***"),
        ("C3", "", ""),
    ]


def test_admin_changelist_masks_contact_for_staff_without_the_permission(client, customer):
    # given a staff member who may read customers but not their contact details
    staff = User.objects.create_user(username="reader", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client.force_login(staff)

    # when
    changelist = client.get(reverse("admin:crm_customer_changelist")).content.decode()
    change = client.get(reverse("admin:crm_customer_change", args=[customer.pk])).content.decode()

    # then
    for text in (changelist, change):
        assert MASKED_PHONE in text
        assert MASKED_EMAIL in text
        assert PHONE not in text
        assert EMAIL not in text


@pytest.mark.parametrize("role", ["support", "admin_user"])
def test_admin_shows_contact_to_support_and_superusers(client, customer, request, role):
    # given
    client.force_login(request.getfixturevalue(role))

    # when
    changelist = client.get(reverse("admin:crm_customer_changelist")).content.decode()
    change = client.get(reverse("admin:crm_customer_change", args=[customer.pk])).content.decode()

    # then
    for text in (changelist, change):
        assert PHONE in text
        assert EMAIL in text
        assert MASKED_PHONE not in text
