"""Who may open which page (SPEC §7): every page against every role.

Marketers and analysts use the pages, support staff the admin, integrations only the API;
anonymous visitors are sent to the matching login page.
"""

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from crm.core.models import AuditEntry
from crm.models import LifecycleSettings
from tests.factories import CustomerFactory, OrderFactory

PAGES = (
    "home",
    "customer-list",
    "customer-export",
    "customer-detail",
    "coupon-list",
    "coupon-export",
    "redemption-list",
    "redemption-export",
)
ADMIN_PAGES = (
    "admin:index",
    "admin:crm_customer_changelist",
    "admin:crm_customer_change",
    "admin:crm_order_changelist",
    "admin:crm_identity_changelist",
    "admin:core_auditentry_changelist",
    "admin:core_job_changelist",
    "admin:crm_lifecyclesettings_change",
)

# What each role gets on the pages.
PAGE_STATUS = {
    "anonymous": 302,
    "marketer": 200,
    "analyst": 200,
    "support": 403,
    "integration": 403,
    "admin": 200,
}

# Support reads customers, orders, identities and the audit log; only superusers see jobs
# and edit lifecycle settings; everyone else is sent to the admin login.
ADMIN_STATUS = {
    "support": {
        "admin:index": 200,
        "admin:crm_customer_changelist": 200,
        "admin:crm_customer_change": 200,
        "admin:crm_order_changelist": 200,
        "admin:crm_identity_changelist": 200,
        "admin:core_auditentry_changelist": 200,
        "admin:core_job_changelist": 403,
        "admin:crm_lifecyclesettings_change": 403,
    },
    "admin": dict.fromkeys(ADMIN_PAGES, 200),
}


@pytest.fixture
def site_data(db):
    customer = CustomerFactory(customer_id="C1", name="Ann Lee", city="Shanghai")
    OrderFactory(customer=customer)
    LifecycleSettings.objects.create(pk=1)
    return customer


def login_as(client, role: str) -> None:
    if role == "anonymous":
        return
    user = User.objects.create_user(
        username=role, password="pw", is_staff=role in ("support", "admin")
    )
    if role == "admin":
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    else:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)


def page_url(name: str, customer) -> str:
    if name == "customer-detail":
        return reverse(name, args=[customer.customer_id])
    if name == "admin:crm_customer_change":
        return reverse(name, args=[customer.pk])
    if name == "admin:crm_lifecyclesettings_change":
        return reverse(name, args=[1])
    return reverse(name)


# Support staff opening the home page (where login lands) are sent to the admin instead.
PAGE_CASES = [
    (page, role) for page in PAGES for role in PAGE_STATUS if (page, role) != ("home", "support")
]


@pytest.mark.parametrize(("page", "role"), PAGE_CASES)
def test_pages_are_for_marketers_and_analysts(client, site_data, role, page):
    # given
    login_as(client, role)
    url = page_url(page, site_data)

    # when
    response = client.get(url)

    # then
    assert response.status_code == PAGE_STATUS[role]
    if role == "anonymous":
        assert response["Location"] == f"{reverse('login')}?next={url}"


def test_support_logging_in_is_sent_on_to_the_admin(client, site_data):
    # given
    login_as(client, "support")

    # when
    response = client.get(reverse("home"))

    # then
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


@pytest.mark.parametrize("role", ["anonymous", "marketer", "analyst", "integration"])
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_sends_non_staff_to_the_admin_login(client, site_data, role, page):
    # given
    login_as(client, role)
    url = page_url(page, site_data)

    # when
    response = client.get(url)

    # then
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("role", ["support", "admin"])
@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_pages_for_support_and_admin(client, site_data, role, page):
    # given
    login_as(client, role)

    # when
    response = client.get(page_url(page, site_data))

    # then
    assert response.status_code == ADMIN_STATUS[role][page]


def test_support_cannot_change_a_customer_in_the_admin(client, site_data):
    # given
    login_as(client, "support")
    url = reverse("admin:crm_customer_change", args=[site_data.pk])

    # when
    response = client.post(url, {"name": "Changed", "city": "Nowhere"})

    # then
    assert response.status_code == 403
    site_data.refresh_from_db()
    assert (site_data.name, site_data.city) == ("Ann Lee", "Shanghai")
    assert AuditEntry.objects.count() == 0


def test_logout_is_a_post_from_the_navigation(client, site_data):
    # given
    login_as(client, "marketer")
    page = client.get(reverse("home")).content.decode()

    # when
    response = client.post(reverse("logout"))

    # then
    assert f'<form method="post" action="{reverse("logout")}"' in page
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302
