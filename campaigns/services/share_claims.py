"""A claim made on a shared envelope's share page (campaigns/share_links.py): the customer
names themself by the phone number of their membership, and the claim goes through the
claim engine like any other, on the `share` trigger and the campaign's on-site channel.

The coupon lands in the account of the member with that phone number and is redeemable by
that member alone (redemption checks the owner), so typing another member's number gains
nothing; the anti-harassment rules and the campaign's limits hold as for every claim. Each
page view carries a fresh attempt token used as the idempotency key: submitting the same
form twice answers with the same coupon instead of a second one.
"""

import re
from datetime import datetime

from campaigns.exceptions import ShareClaimRejectedError
from campaigns.services.claims import ClaimResult
from campaigns.services.partner_codes import claim_with_partner_codes
from campaigns.share_links import SharedEnvelope
from crm.models import Customer

# Spaces, dashes, dots and brackets people type inside a number.
_SEPARATORS = re.compile(r"[\s\-.()]")


def claim_on_share_page(
    *, envelope: SharedEnvelope, phone: str, attempt: str, now: datetime
) -> ClaimResult:
    """Claim the shared envelope (as shared_envelope read it) for the member whose phone
    number is `phone`. Raises ShareClaimRejectedError(field, message) for an envelope or a
    number that cannot claim, and the engine's ClaimRefused for its refusals."""
    if envelope.channel is None:
        raise ShareClaimRejectedError(
            "campaign", "This envelope has no on-site channel to be claimed through."
        )
    number = _SEPARATORS.sub("", phone)
    if not number:
        raise ShareClaimRejectedError("phone", "Type the phone number of your membership.")
    customers = list(
        Customer.objects.filter(phone=number, pii_erased_at__isnull=True).values_list(
            "customer_id", flat=True
        )[:2]
    )
    if not customers:
        raise ShareClaimRejectedError("phone", f"No member has the phone number {number}.")
    if len(customers) > 1:
        raise ShareClaimRejectedError(
            "phone", "Several members share this phone number: claim in the shop's app instead."
        )
    return claim_with_partner_codes(
        campaign=envelope.campaign.code,
        customer=customers[0],
        channel=envelope.channel,
        trigger="share",
        idempotency_key=f"share-{attempt}",
        now=now,
    )
