"""Sending messages through their channel's backend, and the attribution of push grants
to the channel that reached the customer (SPEC §4)."""

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from campaigns.channel_backends import DeliveryError, OutgoingMessage, backend_for
from campaigns.enums import CouponStatus, MessageStatus
from campaigns.models import Coupon, Message
from crm.core.planner import without_jit

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
            without_jit()
            due = Message.objects.select_for_update(skip_locked=True, of=("self",)).filter(
                status__in=[MessageStatus.QUEUED, MessageStatus.DEFERRED], due_at__lte=now
            )
            if run_id is not None and customer_pks is not None:
                due = due.filter(pk__in=_messages_of(run_id, customer_pks))
            elif run_id is not None:
                due = due.filter(run_id=run_id)
            elif customer_pks is not None:
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
            _record_outcomes(chunk)
            for run in {message.run_id for message in chunk} - {None}:
                attribute_push_grants(
                    run_id=run,
                    customer_pks=[m.customer_id for m in chunk if m.run_id == run],
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


def _messages_of(run_id: int, customer_pks: list[int]) -> list[int]:
    """The ids of the push's messages to these customers, probed customer by customer by
    the (run, customer, channel) index: filtered by run and customers, the planner read the
    whole push's messages for each batch (390,000 rows at the 400th batch of a 1M push)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT m.id FROM unnest(%s::bigint[]) AS t (customer_pk)
            CROSS JOIN LATERAL (
                SELECT m.id FROM campaigns_message m
                WHERE m.run_id = %s AND m.customer_id = t.customer_pk
                  AND m.status IN ('queued', 'deferred')
                OFFSET 0  -- kept a subquery: pulled up, it became a hash join over the push
            ) AS m
            """,
            [customer_pks, run_id],
        )
        return [row[0] for row in cursor.fetchall()]


def _record_outcomes(chunk: list[Message]) -> None:
    """The chunk's outcomes in one statement (bulk_update's CASE per column compiled for
    1.6 s of Python a 1,000-customer batch)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE campaigns_message m
            SET status = o.status, sent_at = o.sent_at, failed_at = o.failed_at,
                attempts = o.attempts, last_error = o.last_error
            FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::timestamptz[],
                        %s::smallint[], %s::text[])
                 AS o (id, status, sent_at, failed_at, attempts, last_error)
            WHERE m.id = o.id
            """,
            [
                [m.pk for m in chunk],
                [m.status for m in chunk],
                [m.sent_at for m in chunk],
                [m.failed_at for m in chunk],
                [m.attempts for m in chunk],
                [m.last_error for m in chunk],
            ],
        )


def _coupon_codes(messages: list[Message]) -> dict[tuple[int, int], tuple[str, ...]]:
    """The codes each message carries: its customer's coupons of its campaign, probed
    customer by customer (filtered by campaigns and customers, the planner read every
    coupon of the campaign for each chunk: 2.8 s a chunk at 150,000 coupons)."""
    pairs = sorted({(m.campaign_id, m.customer_id) for m in messages})
    codes: dict[tuple[int, int], list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.campaign_id, p.customer_id, c.code, c.partner_code
            FROM unnest(%s::bigint[], %s::bigint[]) AS p (campaign_id, customer_id)
            CROSS JOIN LATERAL (
                SELECT c.id, c.code, c.partner_code, c.campaign_id FROM campaigns_coupon c
                WHERE c.customer_id = p.customer_id AND c.status NOT IN (%s, %s)
                OFFSET 0
            ) AS c
            -- Outside the subquery (OFFSET 0 keeps it one: pulled up, it became a hash join
            -- over the coupons), so the probe is by customer alone: with the campaign in it,
            -- the planner added the campaign's index and read all its coupons per customer.
            WHERE c.campaign_id = p.campaign_id
            ORDER BY c.id
            """,
            [
                [campaign for campaign, _ in pairs],
                [customer for _, customer in pairs],
                CouponStatus.PENDING,
                CouponStatus.REVOKED,
            ],
        )
        for campaign_id, customer_id, code, partner_code in cursor.fetchall():
            codes.setdefault((campaign_id, customer_id), []).append(partner_code or code)
    return {pair: tuple(found) for pair, found in codes.items()}


def attribute_push_grants(*, run_id: int, customer_pks: list[int], now: datetime) -> None:
    """SPEC §4: a push grant belongs to the first of the campaign's channels (in the
    campaign's order) through which a message to the customer was sent; with none sent, to
    the campaign's first channel. The grant and its ledger rows move together, and the
    grant records when (its campaign's hourly facts built before then are not read).

    Each customer's grant is probed by its push key and its messages by (run, customer,
    channel), both unique indexes, in LATERAL ... LIMIT 1 look-ups the planner cannot turn
    into a scan: looked up by campaign and customer, with the push's rows not yet in the
    statistics, it read every grant and sent message of the campaign for each batch (0.3 s
    a 1,000-customer batch at 20,000 customers, growing with the push)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH owner AS (
                SELECT g.id AS grant_id, g.channel_id AS current, coalesce(
                    (SELECT cc.channel_id FROM campaigns_campaign_channels cc
                     WHERE cc.campaign_id = r.campaign_id
                       AND EXISTS (SELECT 1 FROM campaigns_message m
                                   WHERE m.run_id = r.id AND m.customer_id = t.customer_pk
                                     AND m.channel_id = cc.channel_id AND m.status = 'sent')
                     ORDER BY cc.id LIMIT 1),
                    (SELECT cc.channel_id FROM campaigns_campaign_channels cc
                     WHERE cc.campaign_id = r.campaign_id ORDER BY cc.id LIMIT 1)) AS channel_id
                FROM campaigns_deliveryrun r
                CROSS JOIN unnest(%s::bigint[]) AS t (customer_pk)
                CROSS JOIN LATERAL (
                    SELECT cu.customer_id FROM crm_customer cu WHERE cu.id = t.customer_pk LIMIT 1
                ) AS cu
                CROSS JOIN LATERAL (
                    SELECT g.id, g.channel_id FROM campaigns_grant g
                    WHERE g.campaign_id = r.campaign_id
                      AND g.idempotency_key = 'push-' || r.id || '-' || cu.customer_id LIMIT 1
                ) AS g
                WHERE r.id = %s
            ), moved AS (
                UPDATE campaigns_grant g SET channel_id = owner.channel_id, attributed_at = %s
                FROM owner
                WHERE g.id = ANY (ARRAY(SELECT o.grant_id FROM owner o
                                        WHERE o.current <> o.channel_id))
                  AND g.id = owner.grant_id
                RETURNING g.id, g.channel_id
            )
            UPDATE campaigns_couponevent e SET channel_code = ch.code
            FROM moved JOIN campaigns_coupon c ON c.grant_id = moved.id
                       JOIN crm_channel ch ON ch.id = moved.channel_id
            -- By the coupons' index: joined, the ledger was planned as a scan of every
            -- grant row of every campaign.
            WHERE e.coupon_id = ANY (ARRAY(SELECT c.id FROM moved
                                           JOIN campaigns_coupon c ON c.grant_id = moved.id))
              AND e.coupon_id = c.id AND e.kind = 'grant'
            """,
            [customer_pks, run_id, now],
        )
