"""First-order gifts (SPEC §4 playbooks): a running campaign with trigger `first_order`
grants its coupons to each customer of its audience whose first paid order was placed
after the campaign started, once (the key `first-order-<customer_id>`; campaigns.services.
automatic_grants).

"First" is over every paid order the data holds, whenever it arrived: a customer with a
paid order placed before the start gets nothing, however late that history was imported,
and an order imported today but placed before the start is history, never a first order
of the campaign's. Celery beat runs it every minute, so the gift follows the import or API
call that brought the order within a minute; crm's importers know nothing of campaigns.
"""

from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from campaigns.enums import Trigger
from campaigns.models import Campaign
from campaigns.services.automatic_grants import AutomaticRun, grant_occasions
from crm.enums import OrderStatus
from crm.models import Order

KEY_PREFIX = "first-order-"


def grant_first_order_gifts(*, now: datetime) -> AutomaticRun:
    """Grant the first-order gifts due at `now` of every running first-order campaign."""
    return grant_occasions(
        trigger=Trigger.FIRST_ORDER,
        now=now,
        occasion=lambda campaign: (_first_order_since_start(campaign, now=now), KEY_PREFIX),
    )


def _first_order_since_start(campaign: Campaign, *, now: datetime) -> Q:
    paid = Order.objects.filter(customer=OuterRef("pk"), status=OrderStatus.PAID)
    since_start = paid.filter(placed_at__gte=campaign.claim_starts_at, placed_at__lte=now)
    before_start = paid.filter(placed_at__lt=campaign.claim_starts_at)
    return Q(Exists(since_start)) & ~Q(Exists(before_start))
