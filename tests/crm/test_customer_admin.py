"""The admin for support staff: customer search, read-only history, lifecycle settings."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.core.models import AuditEntry
from crm.models import LifecycleSettings
from crm.services.lifecycle_settings import update_lifecycle_settings
from tests.factories import BehaviourEventFactory, CustomerFactory, OrderFactory

SETTINGS_URL = reverse("admin:crm_lifecyclesettings_change", args=[1])
DEFAULTS = {
    "churn_days": 90,
    "silent_days": 30,
    "new_days": 30,
    "mature_orders": 5,
    "window_days": 30,
    "high_value_min_spent": Decimal("2000.00"),
    "medium_value_min_spent": Decimal("500.00"),
}


@pytest.fixture
def customers(db):
    CustomerFactory(customer_id="C100", name="Alice Wang", phone="13800000001", email="a@x.cn")
    CustomerFactory(customer_id="C101", name="Bob Wang", phone="13800000002", email="b@x.cn")
    CustomerFactory(customer_id="D200", name="Carol Li", phone="13800000003", email="c@x.cn")


def found(client, query: str) -> list[str]:
    response = client.get(reverse("admin:crm_customer_changelist"), {"q": query})
    assert response.status_code == 200
    return sorted(customer.customer_id for customer in response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("C101", ["C101"], id="id"),
        pytest.param("C10", ["C100", "C101"], id="id-prefix"),
        pytest.param("13800000003", ["D200"], id="phone"),
        pytest.param("B@X.CN", ["C101"], id="email-any-case"),
        pytest.param("wang", ["C100", "C101"], id="name"),
        pytest.param("Alice Wang", ["C100"], id="full-name"),
        pytest.param("0000000", [], id="partial-phone-matches-nothing"),
    ],
)
def test_support_finds_customers_by_id_phone_email_or_name(
    client, support, customers, query, expected
):
    # given
    client.force_login(support)

    # when / then
    assert found(client, query) == expected


def test_customer_page_shows_latest_history_read_only(client, support):
    # given
    customer = CustomerFactory(customer_id="C1")
    for day in range(1, 61):
        OrderFactory(customer=customer, order_id=f"O{day:03d}", placed_at=timezone.now())
    for minute in range(40):
        BehaviourEventFactory(
            customer=customer, occurred_at=timezone.now() - timedelta(minutes=minute)
        )
    client.force_login(support)

    # when
    response = client.get(reverse("admin:crm_customer_change", args=[customer.pk]))

    # then
    assert response.status_code == 200
    formsets = {
        formset.formset.prefix: formset for formset in response.context["inline_admin_formsets"]
    }
    assert len(formsets["orders"].formset.forms) == 50
    assert len(formsets["events"].formset.forms) == 30
    assert all(not formset.has_add_permission for formset in formsets.values())
    assert all(not formset.has_change_permission for formset in formsets.values())
    assert 'name="_save"' not in response.content.decode()


def test_lifecycle_settings_list_opens_the_single_row(client, admin_user):
    # given
    client.force_login(admin_user)

    # when
    response = client.get(reverse("admin:crm_lifecyclesettings_changelist"))

    # then
    assert response.status_code == 302
    assert response["Location"] == SETTINGS_URL
    assert LifecycleSettings.objects.count() == 1


def settings_form(**changes) -> dict:
    return {name: str(value) for name, value in {**DEFAULTS, **changes}.items()}


def test_editing_lifecycle_settings_writes_an_audit_entry(client, admin_user):
    # given
    LifecycleSettings.objects.create(pk=1)
    client.force_login(admin_user)

    # when
    response = client.post(SETTINGS_URL, settings_form(churn_days=120, silent_days=45))

    # then
    assert response.status_code == 302
    saved = LifecycleSettings.objects.get(pk=1)
    assert (saved.churn_days, saved.silent_days, saved.new_days) == (120, 45, 30)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.object_type, entry.object_id) == (
        admin_user,
        "update_lifecycle_settings",
        "lifecycle_settings",
        "1",
    )
    assert entry.changes == {
        "churn_days": {"before": 90, "after": 120},
        "silent_days": {"before": 30, "after": 45},
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param(
            {"silent_days": 90},
            "silent_days",
            "Silent days must be fewer than churn days (90)",
            id="silent-equals-churn",
        ),
        pytest.param(
            {"silent_days": 100, "churn_days": 60},
            "silent_days",
            "Silent days must be fewer than churn days (60)",
            id="silent-after-churn",
        ),
        pytest.param(
            {"high_value_min_spent": "500.00"},
            "high_value_min_spent",
            "High value must start above medium value (500.00)",
            id="value-tiers-not-ordered",
        ),
        pytest.param({"window_days": 0}, "window_days", "Must be at least 1.", id="zero-window"),
    ],
)
def test_invalid_lifecycle_settings_are_refused_and_nothing_changes(
    client, admin_user, changes, field, message
):
    # given
    LifecycleSettings.objects.create(pk=1)
    client.force_login(admin_user)

    # when
    response = client.post(SETTINGS_URL, settings_form(**changes))

    # then
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert errors[field][0].startswith(message)
    assert message in response.content.decode()
    saved = LifecycleSettings.objects.get(pk=1)
    assert {name: getattr(saved, name) for name in DEFAULTS} == DEFAULTS
    assert AuditEntry.objects.count() == 0


def test_update_lifecycle_settings_refuses_clashing_thresholds(admin_user, as_of):
    # given
    LifecycleSettings.objects.create(pk=1)

    # when
    with pytest.raises(ValidationError) as refused:
        update_lifecycle_settings(changes={"silent_days": 95}, actor=admin_user, now=as_of)

    # then
    assert list(refused.value.message_dict) == ["silent_days"]
    assert LifecycleSettings.objects.get(pk=1).silent_days == 30
    assert AuditEntry.objects.count() == 0


def test_update_lifecycle_settings_refuses_fields_that_are_not_thresholds(admin_user, as_of):
    # given
    LifecycleSettings.objects.create(pk=1)

    # when
    with pytest.raises(ValidationError):
        update_lifecycle_settings(changes={"id": 2}, actor=admin_user, now=as_of)

    # then
    assert list(LifecycleSettings.objects.values_list("pk", flat=True)) == [1]
    assert AuditEntry.objects.count() == 0


def test_update_lifecycle_settings_without_a_real_change_writes_nothing(admin_user, as_of):
    # given
    LifecycleSettings.objects.create(pk=1)

    # when
    update_lifecycle_settings(
        changes={"churn_days": 90, "high_value_min_spent": "2000"}, actor=admin_user, now=as_of
    )

    # then
    assert AuditEntry.objects.count() == 0


def test_update_lifecycle_settings_audits_money_exactly(admin_user, as_of):
    # given
    LifecycleSettings.objects.create(pk=1)

    # when
    update_lifecycle_settings(
        changes={"medium_value_min_spent": "499.99"}, actor=admin_user, now=as_of
    )

    # then
    entry = AuditEntry.objects.get()
    assert entry.at == as_of
    assert entry.changes == {"medium_value_min_spent": {"before": "500.00", "after": "499.99"}}
    assert LifecycleSettings.objects.get(pk=1).medium_value_min_spent == Decimal("499.99")
