"""The customer's messages on the customer 360 page (templates/crm/customer_detail.html), an
inclusion tag for the reason customer_coupons is one (crm never imports campaigns)."""

from django import template

from campaigns import selectors
from crm.models import Customer

register = template.Library()

PROFILE_LATEST_MESSAGES = 20


@register.inclusion_tag("campaigns/customer_messages.html", takes_context=True)
def customer_messages(context, customer: Customer) -> dict:
    """The latest PROFILE_LATEST_MESSAGES messages to `customer`, newest first, and how many
    there are in all; the admin's message list is linked for the staff who may open it."""
    messages = selectors.messages_of_customer(customer_id=customer.customer_id)
    user = context["request"].user
    return {
        "customer": customer,
        "messages": list(messages[:PROFILE_LATEST_MESSAGES]),
        "message_count": messages.count(),
        "limit": PROFILE_LATEST_MESSAGES,
        "admin_link": user.is_staff and user.has_perm("campaigns.view_message"),
    }
