"""Sending messages through their channel's backend, and the attribution of push grants
to the channel that reached the customer (SPEC §4)."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from campaigns.channel_backends import DeliveryError, OutgoingMessage, backend_for
from campaigns.enums import CouponStatus, MessageStatus
from campaigns.models import Coupon, Message

SEND_CHUNK = 500


def send_due_messages(
    *, now: datetime, run_id: int | None = None, customer_pks: list[int] | None = None
) -> int:
    """Send the queued and deferred messages due at `now` (of one push run and some
    customers, or all), SEND_CHUNK at a time; returns how many were sent.

    Each chunk is locked (FOR UPDATE SKIP LOCKED) while it is sent and its outcome written,
    so two senders (a batch and the sweeper) never send one message twice."""
    sent = 0
    while True:
        with transaction.atomic():
            due = Message.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED], due_at__lte=now
            )
            if run_id is not None:
                due = due.filter(run_id=run_id)
            if customer_pks is not None:
                due = due.filter(customer_id__in=customer_pks)
            # A message waits while its grant waits for a partner's code: it carries codes.
            due = due.exclude(
                Exists(
                    Coupon.objects.filter(
                        campaign_id=OuterRef("campaign_id"),
                        customer_id=OuterRef("customer_id"),
                        status=CouponStatus.PENDING,
                    )
                )
            )
            chunk = list(
                due.select_related("campaign", "customer", "channel").order_by("due_at", "id")[
                    :SEND_CHUNK
                ]
            )
            if not chunk:
                return sent
            coupons = _coupon_codes(chunk)
            backends = {}
            for message in chunk:
                code = message.channel.code
                backend = backends.get(code) or backends.setdefault(code, backend_for(code))
                sent += _send(
                    message,
                    backend,
                    coupons.get((message.campaign_id, message.customer_id), ()),
                    now=now,
                )
            Message.objects.bulk_update(
                chunk, ["status", "sent_at", "failed_at", "attempts", "last_error"]
            )
            for campaign_id in {message.campaign_id for message in chunk}:
                attribute_push_grants(
                    campaign_id=campaign_id,
                    customer_pks=[m.customer_id for m in chunk if m.campaign_id == campaign_id],
                    now=now,
                )
        if len(chunk) < SEND_CHUNK:
            return sent


def _send(message: Message, backend, coupons: tuple[str, ...], *, now: datetime) -> int:
    outgoing = OutgoingMessage(
        message_id=message.pk,
        campaign=message.campaign.code,
        customer=message.customer.customer_id,
        channel=message.channel.code,
        coupons=coupons,
    )

    def record_failure(error: str) -> None:
        message.attempts += 1
        message.last_error = error[:300]

    try:
        backend.send(outgoing, record_failure)
    except DeliveryError:
        message.status = MessageStatus.FAILED
        message.failed_at = now
        return 0
    message.attempts += 1
    message.status = MessageStatus.SENT
    message.sent_at = now
    return 1


def _coupon_codes(messages: list[Message]) -> dict[tuple[int, int], tuple[str, ...]]:
    pairs = {(m.campaign_id, m.customer_id) for m in messages}
    codes: dict[tuple[int, int], list[str]] = {}
    for campaign_id, customer_id, code, partner_code in (
        Coupon.objects.filter(
            campaign_id__in={c for c, _ in pairs}, customer_id__in={c for _, c in pairs}
        )
        .exclude(status__in=[CouponStatus.PENDING, CouponStatus.REVOKED])
        .order_by("id")
        .values_list("campaign_id", "customer_id", "code", "partner_code")
    ):
        if (campaign_id, customer_id) in pairs:
            codes.setdefault((campaign_id, customer_id), []).append(partner_code or code)
    return {pair: tuple(found) for pair, found in codes.items()}


def attribute_push_grants(*, campaign_id: int, customer_pks: list[int], now: datetime) -> None:
    """SPEC §4: a push grant belongs to the first of the campaign's channels (in the
    campaign's order) through which a message to the customer was sent; with none sent, to
    the campaign's first channel. The grant and its ledger rows move together, and the
    grant records when (its campaign's hourly facts built before then are not read)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH owner AS (
                SELECT g.id AS grant_id, coalesce(
                    (SELECT cc.channel_id FROM campaigns_campaign_channels cc
                     JOIN campaigns_message m ON m.channel_id = cc.channel_id
                      AND m.campaign_id = g.campaign_id AND m.customer_id = g.customer_id
                      AND m.status = 'sent'
                     WHERE cc.campaign_id = g.campaign_id ORDER BY cc.id LIMIT 1),
                    (SELECT cc.channel_id FROM campaigns_campaign_channels cc
                     WHERE cc.campaign_id = g.campaign_id ORDER BY cc.id LIMIT 1)) AS channel_id
                FROM campaigns_grant g
                WHERE g.campaign_id = %s AND g.customer_id = ANY(%s)
                  AND g.trigger = 'scheduled_push'
            ), moved AS (
                UPDATE campaigns_grant g SET channel_id = owner.channel_id, attributed_at = %s
                FROM owner WHERE g.id = owner.grant_id AND g.channel_id <> owner.channel_id
                RETURNING g.id, g.channel_id
            )
            UPDATE campaigns_couponevent e SET channel_code = ch.code
            FROM moved JOIN campaigns_coupon c ON c.grant_id = moved.id
                       JOIN crm_channel ch ON ch.id = moved.channel_id
            WHERE e.coupon_id = c.id AND e.kind = 'grant'
            """,
            [campaign_id, customer_pks, now],
        )
