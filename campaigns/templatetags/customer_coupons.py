"""The customer's coupons on the customer 360 page (templates/crm/customer_detail.html).

An inclusion tag, so crm's page shows campaigns' rows without crm importing campaigns
(STYLE §2.1: campaigns depends on crm, never the other way). It calls one selector and
renders templates/campaigns/customer_coupons.html: two queries, the latest coupons with
everything they show joined in, and the count.
"""

from django import template

from campaigns import selectors
from crm.models import Customer

register = template.Library()

# The latest coupons the 360 page lists; the admin's coupon list has them all.
PROFILE_LATEST_COUPONS = 20


@register.inclusion_tag("campaigns/customer_coupons.html", takes_context=True)
def customer_coupons(context, customer: Customer) -> dict:
    """The latest PROFILE_LATEST_COUPONS coupons of `customer`, newest first, and how many
    it holds in all; the admin's coupon list is linked for the staff who may open it."""
    coupons = selectors.coupons_of_customer(customer_id=customer.customer_id)
    user = context["request"].user
    return {
        "customer": customer,
        "coupons": list(coupons[:PROFILE_LATEST_COUPONS]),
        "coupon_count": coupons.count(),
        "limit": PROFILE_LATEST_COUPONS,
        "admin_link": user.is_staff and user.has_perm("campaigns.view_coupon"),
    }
