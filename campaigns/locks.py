"""Row locks of the claim engine, always taken in this order within one transaction:

    1. lock_customer(customer_id)             CustomerClaimLock row
    2. lock_customer_counter(campaign, ...)   CustomerCampaignCounter row
    3. lock_campaign(campaign_id)             Campaign row (the hot one: taken last, so it
                                              is held only for the final writes)

The claim engine (campaigns/sql/claim_coupon.sql, inside PostgreSQL) takes the same rows in
the same order; the Python writers here (revoke, campaign edits and status changes) use
these helpers, so no two writers can wait on each other in a cycle. Nothing else in the
code base calls select_for_update() on these tables.
"""

from datetime import date

from django.db import connection

from campaigns.models import Campaign, CustomerCampaignCounter, CustomerClaimLock


def lock_customer(customer_id: int) -> None:
    """Take the customer's claim lock. Requires: an open transaction, no other lock held."""
    # One round trip instead of insert-if-missing then SELECT ... FOR UPDATE: ON CONFLICT
    # DO UPDATE locks the existing row until the transaction ends (a no-op update of the
    # key), and a freshly inserted row is ours alone until then. The ORM cannot express it
    # (bulk_create refuses the primary key in update_fields).
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CustomerClaimLock._meta.db_table} (customer_id) VALUES (%s) "
            "ON CONFLICT (customer_id) DO UPDATE SET customer_id = EXCLUDED.customer_id",
            [customer_id],
        )


def lock_customer_counter(*, campaign: Campaign, customer_id: int) -> CustomerCampaignCounter:
    """Take and return the customer's counter in the campaign (created at zero).

    Requires: lock_customer(customer_id) held, so no other claim creates it meanwhile.
    """
    counter = (
        CustomerCampaignCounter.objects.select_for_update()
        .filter(campaign=campaign, customer_id=customer_id)
        .first()
    )
    if counter is None:
        counter = CustomerCampaignCounter.objects.create(
            campaign=campaign,
            customer_id=customer_id,
            day=date.min,
            limit_total=campaign.limit_per_customer,
            limit_daily=campaign.daily_limit_per_customer,
        )
    return counter


def lock_campaign(campaign_id: int) -> Campaign:
    """Take and return the campaign row. Requires: the customer locks above, if any."""
    return Campaign.objects.select_for_update().get(pk=campaign_id)
