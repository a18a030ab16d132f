"""Helpers of the push tests: SPEC §4's holdout hash computed independently, and a push
started and delivered at a chosen moment."""

import hashlib
from decimal import Decimal

from campaigns.models import DeliveryBatch
from campaigns.services import lifecycle
from campaigns.services.push_delivery import deliver_batch


def held_out(campaign_pk: int, customer_pk: int, share: Decimal) -> bool:
    """SPEC §4's stable hash, computed here: the first 8 bytes of sha256 as an unsigned
    integer below share * 2^64."""
    digest = hashlib.sha256(f"holdout:{campaign_pk}:{customer_pk}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


def start(campaign, marketer, now, capture):
    """Start the campaign at `now` and deliver the batches its start sends, at `now` (the
    Celery task stamps the real clock; tests/campaigns/test_push_worker.py runs it)."""
    with capture() as sent:
        lifecycle.start_campaign(campaign=campaign, actor=marketer, now=now)
    assert len(sent) == 1
    for batch in DeliveryBatch.objects.filter(run__campaign=campaign):
        assert deliver_batch(batch_id=batch.pk, now=now) == "done"
