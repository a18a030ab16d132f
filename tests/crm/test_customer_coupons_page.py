"""A customer's coupons on the customer 360 page and in the admin (support and marketers
see them without searching the coupon list by customer id)."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.crm.conftest import claim
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

COUPONS_ADMIN = reverse("admin:campaigns_coupon_changelist")


def coupon_rows(page: str) -> list[list[str]]:
    """The cells of the 360 page's coupons table, as text, row by row."""
    section = re.search(r'<article class="panel" id="coupons">(.*?)</article>', page, re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", section.group(1), re.S)[1:]  # below the header
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def test_customer_360_lists_the_coupons_newest_first_in_the_operators_zone(
    client, marketer, coupon_shop
):
    # given: as_of is 2026-06-30 12:00 UTC, 20:00 in Shanghai; coupons last 7 days
    client.force_login(marketer)

    # when
    response = client.get(reverse("customer-detail", args=["SH-1"]))

    # then
    page = response.content.decode()
    assert response.status_code == 200
    assert coupon_rows(page) == [
        [
            coupon_shop.unused.code,
            "spring",
            "ten-off",
            "Unused",
            "homepage",
            "2026-06-30 19:00",
            "2026-07-07 19:00",
            "—",
        ],
        [
            coupon_shop.revoked.code,
            "summer",
            "summer-ten",
            "Revoked",
            "homepage",
            "2026-06-30 18:00",
            "2026-07-07 18:00",
            "—",
        ],
        [
            coupon_shop.redeemed.code,
            "spring",
            "ten-off",
            "Redeemed",
            "app_push",
            "2026-06-30 17:00",
            "2026-07-07 17:00",
            "2026-06-30 19:30",
        ],
    ]
    assert page.count('<a href="/campaigns/spring/">spring</a>') == 2
    assert '<a href="/campaigns/summer/">summer</a>' in page
    # a marketer cannot open the admin: the count, not a link to it
    assert "3 coupons in all." in page
    assert COUPONS_ADMIN not in page


def test_customer_360_without_coupons_says_so(client, marketer, coupon_shop):
    # given
    client.force_login(marketer)

    # when: a customer without coupons (SH-2's coupon is not theirs)
    CustomerFactory(customer_id="SH-9")
    response = client.get(reverse("customer-detail", args=["SH-9"]))

    # then
    assert response.status_code == 200
    assert coupon_rows(response.content.decode()) == []
    assert "No coupons." in response.content.decode()


def test_customer_360_shows_the_latest_20_and_links_the_admin_list_of_all(
    client, admin_user, coupon_shop, as_of
):
    # given: 22 more coupons for SH-1, 25 in all, the newest claimed last
    later = [
        claim(
            coupon_shop.spring,
            coupon_shop.customer,
            "app_push",
            "login",
            as_of + timedelta(minutes=n),
        )
        for n in range(1, 23)
    ]
    client.force_login(admin_user)

    # when
    page = client.get(reverse("customer-detail", args=["SH-1"])).content.decode()

    # then
    rows = coupon_rows(page)
    assert [row[0] for row in rows] == [coupon.code for coupon in reversed(later)][:20]
    assert f'<a href="{COUPONS_ADMIN}?customer=SH-1">All 25 coupons</a>' in page

    # when the link is followed
    listed = client.get(f"{COUPONS_ADMIN}?customer=SH-1")

    # then: exactly the customer's coupons, not SH-2's
    assert listed.status_code == 200
    assert sorted(coupon.code for coupon in listed.context["cl"].queryset) == sorted(
        [coupon.code for coupon in later]
        + [coupon_shop.redeemed.code, coupon_shop.revoked.code, coupon_shop.unused.code]
    )


@pytest.mark.parametrize(
    ("customer", "expected"),
    [("SH-2", 1), ("NOPE", 0), ("SH-1\x00", 0)],
    ids=["other", "unknown", "nul"],
)
def test_admin_coupon_list_filters_by_customer_id(client, support, coupon_shop, customer, expected):
    # given
    client.force_login(support)

    # when
    response = client.get(COUPONS_ADMIN, {"customer": customer})

    # then
    assert response.status_code == 200
    assert response.context["cl"].queryset.count() == expected


def test_customer_admin_shows_the_customers_coupons_read_only_in_a_fixed_number_of_queries(
    client, support, coupon_shop, as_of
):
    # given / when
    client.force_login(support)
    url = reverse("admin:crm_customer_change", args=[coupon_shop.customer.pk])
    client.get(url)  # the first request of the process fills caches (content types)
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)

    # then
    formsets = {
        formset.formset.prefix: formset for formset in response.context["inline_admin_formsets"]
    }
    coupons = formsets["coupons"]
    assert [form.instance.code for form in coupons.formset.forms] == [
        coupon_shop.unused.code,
        coupon_shop.revoked.code,
        coupon_shop.redeemed.code,
    ]
    assert (coupons.has_add_permission, coupons.has_change_permission) == (False, False)
    page = response.content.decode()
    assert "latest coupons (up to 50)" in page.lower()
    assert re.findall(r'<td class="field-channel">\s*<p>(.*?)</p>', page) == [
        "homepage",
        "homepage",
        "app_push",
    ]

    # when the customer holds 20 more coupons
    for n in range(1, 21):
        claim(
            coupon_shop.spring,
            coupon_shop.customer,
            "homepage",
            "login",
            as_of + timedelta(minutes=n),
        )
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)

    # then: the same queries (campaign, template and channel joined in, no query per row)
    formsets = {
        formset.formset.prefix: formset for formset in response.context["inline_admin_formsets"]
    }
    assert len(formsets["coupons"].formset.forms) == 23
    assert len(many) == len(few)
