"""Scheduled push (SPEC §4): at the claim window's start the recorded audience is granted
through the claim engine's batch entry and notified through the campaign's off-site
channels, in Celery batches.

Crash safety comes from the database, whatever the broker (the demo's filesystem broker
never redelivers; Redis keeps a killed worker's task invisible for the visibility timeout
and loses its queue on a restart):
- a batch grants, queues its messages and marks itself done in one transaction: a worker
  killed mid-batch leaves nothing of it, and a batch already done is never granted again;
- each grant's idempotency key is push-<run>-<customer_id>, unique per campaign under the
  engine's INSERT … ON CONFLICT DO NOTHING, and each message is unique per (run, customer,
  channel): even two workers on one batch cannot grant or message anyone twice;
- a worker holds its batch's row lock while it works; sweep_pushes (beat) re-sends the
  batches left pending long after their last send that no worker holds.
Pause and resume: the batch transaction holds its run's row FOR SHARE and pausing takes it
FOR UPDATE, so a pause waits for the batches in flight and no batch starts after it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from campaigns.enums import BatchState, CouponStatus, DeliveryState, Trigger
from campaigns.models import Campaign, Coupon, DeliveryBatch, DeliveryRun
from campaigns.operator_time import operator_zone_name
from campaigns.services.automatic_grants import first_channel
from campaigns.services.claims import claim_batch
from campaigns.services.message_sending import send_due_messages
from campaigns.services.partner_codes import request_partner_codes
from crm.core.planner import without_jit
from crm.enums import ChannelKind


def push_key(run_id: int, customer_id: str) -> str:
    """The idempotency key of a push grant: one per (push run, customer)."""
    return f"push-{run_id}-{customer_id}"


def start_push(*, campaign: Campaign, now: datetime) -> DeliveryRun | None:
    """Create the push of a scheduled_push campaign that just started running, cut its
    recorded audience into batches and send them once the caller's transaction commits.
    Call it after record_audience, in the same transaction. A campaign pushes once: a
    resumed campaign resumes its push (resume_push)."""
    if campaign.trigger != Trigger.SCHEDULED_PUSH:
        return None
    run, created = DeliveryRun.objects.get_or_create(
        campaign=campaign,
        defaults={
            "state": DeliveryState.RUNNING,
            "batch_size": settings.PUSH_BATCH_SIZE,
            "created_at": now,
            "started_at": now,
        },
    )
    if not created:
        return run
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO campaigns_deliverybatch (run_id, number, first_customer_id,
                last_customer_id, size, state, enqueued_at, sends, processed, granted, skipped,
                worker)
            SELECT %s, numbered.number, min(numbered.customer_id), max(numbered.customer_id),
                   count(*), 'pending', %s, 1, 0, 0, '{}'::jsonb, ''
            FROM (SELECT m.customer_id,
                         (row_number() OVER (ORDER BY m.customer_id) - 1) / %s + 1 AS number
                  FROM campaigns_audiencemember m
                  WHERE m.campaign_id = %s AND m.at_start) AS numbered
            GROUP BY numbered.number
            """,
            [run.pk, now, run.batch_size, campaign.pk],
        )
    run.total = sum(DeliveryBatch.objects.filter(run=run).values_list("size", flat=True))
    run.save(update_fields=["total"])
    _send_on_commit(list(DeliveryBatch.objects.filter(run=run).values_list("pk", flat=True)))
    if run.total == 0:
        _finish_if_complete(run.pk, now=now)
    return run


def pause_push(*, campaign: Campaign) -> None:
    """Pause the campaign's running push (call it before locking the campaign row: the
    batches in flight hold the run, then the campaign). Waits for those batches to commit."""
    DeliveryRun.objects.select_for_update().filter(
        campaign=campaign, state=DeliveryState.RUNNING
    ).update(state=DeliveryState.PAUSED)


def lock_push(*, campaign: Campaign) -> None:
    """Take the campaign's push row first, as batches do, before a status change locks the
    campaign row (the fixed order that keeps a status change and a batch from deadlocking)."""
    list(DeliveryRun.objects.select_for_update().filter(campaign=campaign).values_list("pk"))


def resume_push(*, campaign: Campaign, now: datetime) -> None:
    """Resume the campaign's paused push: its pending batches are sent again."""
    runs = DeliveryRun.objects.filter(campaign=campaign, state=DeliveryState.PAUSED)
    for run in runs.select_for_update():
        run.state = DeliveryState.RUNNING
        run.save(update_fields=["state"])
        _resend(DeliveryBatch.objects.filter(run=run, state=BatchState.PENDING), now=now)
        _finish_if_complete(run.pk, now=now)


def deliver_batch(*, batch_id: int, now: datetime, worker: str = "") -> str:
    """Grant one batch through the claim engine and queue its messages, in one transaction;
    then send them. Returns what happened: done, already_done (by another worker, whose
    commit it waits for when that worker holds it now), paused (its run is not running),
    gone (no such batch)."""
    with transaction.atomic():
        without_jit()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT r.id, r.state, c.code, c.id FROM campaigns_deliveryrun r
                JOIN campaigns_deliverybatch b ON b.run_id = r.id
                JOIN campaigns_campaign c ON c.id = r.campaign_id
                WHERE b.id = %s FOR SHARE OF r
                """,
                [batch_id],
            )
            found = cursor.fetchone()
        if found is None:
            return "gone"
        run_id, run_state, campaign_code, campaign_id = found
        if run_state != DeliveryState.RUNNING:
            return "paused"
        # Waits rather than skips: under load, SKIP LOCKED was seen passing over batches no
        # other transaction held (two workers, each on its own batch, both skipped), and a
        # skipped batch then waited for the sweeper. A batch another worker holds is done
        # (or rolled back, and then this worker grants it) once the lock is ours.
        batch = DeliveryBatch.objects.select_for_update().get(pk=batch_id)
        if batch.state == BatchState.DONE:
            return "already_done"
        members = _batch_members(batch, campaign_id=campaign_id)
        # Claimed through the campaign's first channel, re-attributed once its messages
        # are sent (send_due_messages).
        channel = first_channel(campaign_id)
        answers = claim_batch(
            campaign=campaign_code,
            customers=[customer_id for _, customer_id in members],
            idempotency_keys=[push_key(run_id, customer_id) for _, customer_id in members],
            channel=channel,
            trigger=Trigger.SCHEDULED_PUSH,
            now=now,
        )
        granted = [a.customer_pk for a in answers if a.outcome in ("granted", "replayed")]
        skipped: dict[str, int] = {}
        for answer in answers:
            if answer.outcome not in ("granted", "replayed"):
                reason = answer.reason or answer.outcome
                skipped[reason] = skipped.get(reason, 0) + 1
        queue_messages(campaign_id=campaign_id, run_id=run_id, customer_pks=granted, now=now)
        batch.state = BatchState.DONE
        batch.processed = len(answers)
        batch.granted = len(granted)
        batch.skipped = skipped
        batch.finished_at = now
        batch.worker = worker[:200]
        batch.save(
            update_fields=["state", "processed", "granted", "skipped", "finished_at", "worker"]
        )
    pending = list(
        Coupon.objects.filter(
            campaign_id=campaign_id, customer_id__in=granted, status=CouponStatus.PENDING
        ).values_list("pk", flat=True)
    )
    if pending:
        request_partner_codes(now=now, coupon_ids=pending)
    # Sending attributes each grant to the channel that reached its customer first; a grant
    # none reached stays on the campaign's first channel, the one it was claimed through.
    send_due_messages(now=now, run_id=run_id, customer_pks=granted)
    _finish_if_complete(run_id, now=now)
    return "done"


def queue_messages(*, campaign_id: int, run_id: int, customer_pks: list[int], now: datetime):
    """One message per granted customer and off-site channel of the campaign, decided in one
    statement by the sending rules (SPEC §4), in this order:
    - suppressed, no_consent: the customer's consent for the channel code is not true;
    - deferred, quiet_hours: `now` falls in the channel's quiet hours (operator's time
      zone, start included, end excluded; start after end spans midnight): due at their end;
    - suppressed, daily_cap: the customer already has the channel's cap of messages queued,
      sent or deferred for the operator's day the message is due;
    - queued otherwise, due now."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH planned AS (
                SELECT cu.id AS customer_id, ch.id AS channel_id, ch.daily_message_cap AS cap,
                       coalesce(cu.consent -> ch.code = 'true'::jsonb, FALSE) AS consented,
                       CASE
                         WHEN ch.quiet_hours_start IS NULL
                              OR ch.quiet_hours_start = ch.quiet_hours_end THEN NULL
                         WHEN ch.quiet_hours_start < ch.quiet_hours_end THEN
                           CASE WHEN local.t >= ch.quiet_hours_start
                                     AND local.t < ch.quiet_hours_end
                                THEN (local.d + ch.quiet_hours_end) AT TIME ZONE %(zone)s END
                         WHEN local.t >= ch.quiet_hours_start THEN
                           (local.d + 1 + ch.quiet_hours_end) AT TIME ZONE %(zone)s
                         WHEN local.t < ch.quiet_hours_end THEN
                           (local.d + ch.quiet_hours_end) AT TIME ZONE %(zone)s
                       END AS quiet_until
                FROM unnest(%(customers)s::bigint[]) AS g (customer_id)
                -- A probe per customer whatever the statistics say (joined, it was planned
                -- as a hash join over a sequential scan of every customer, for each batch).
                CROSS JOIN LATERAL (
                    SELECT cu.id, cu.consent FROM crm_customer cu WHERE cu.id = g.customer_id
                    LIMIT 1
                ) AS cu
                JOIN campaigns_campaign_channels cc ON cc.campaign_id = %(campaign)s
                JOIN crm_channel ch ON ch.id = cc.channel_id AND ch.kind = %(off_site)s
                CROSS JOIN LATERAL (
                    SELECT (%(now)s::timestamptz AT TIME ZONE %(zone)s)::date AS d,
                           (%(now)s::timestamptz AT TIME ZONE %(zone)s)::time AS t
                ) AS local
            ), timed AS (
                SELECT planned.*, coalesce(planned.quiet_until, %(now)s) AS due_at
                FROM planned
            ), counted AS (
                SELECT timed.*,
                    CASE WHEN timed.cap IS NULL OR NOT timed.consented THEN 0 ELSE (
                        SELECT count(*) FROM campaigns_message m
                        WHERE m.customer_id = timed.customer_id
                          AND m.channel_id = timed.channel_id
                          AND m.status IN ('queued', 'sent', 'deferred')
                          AND (m.due_at AT TIME ZONE %(zone)s)::date
                              = (timed.due_at AT TIME ZONE %(zone)s)::date
                    ) END AS already
                FROM timed
            )
            INSERT INTO campaigns_message (campaign_id, run_id, customer_id, channel_id, status,
                reason, created_at, due_at, attempts, last_error)
            SELECT %(campaign)s, %(run)s, counted.customer_id, counted.channel_id,
                CASE WHEN NOT counted.consented THEN 'suppressed'
                     WHEN counted.cap IS NOT NULL AND counted.already >= counted.cap
                          THEN 'suppressed'
                     WHEN counted.quiet_until IS NOT NULL THEN 'deferred'
                     ELSE 'queued' END,
                CASE WHEN NOT counted.consented THEN 'no_consent'
                     WHEN counted.cap IS NOT NULL AND counted.already >= counted.cap
                          THEN 'daily_cap'
                     WHEN counted.quiet_until IS NOT NULL THEN 'quiet_hours'
                     ELSE '' END,
                %(now)s, counted.due_at, 0, ''
            FROM counted
            ORDER BY counted.customer_id, counted.channel_id
            ON CONFLICT (run_id, customer_id, channel_id) DO NOTHING
            """,
            {
                "zone": operator_zone_name(),
                "customers": customer_pks,
                "campaign": campaign_id,
                "run": run_id,
                "now": now,
                "off_site": ChannelKind.OFF_SITE,
            },
        )


def sweep_pushes(*, now: datetime) -> dict[str, int]:
    """The beat's safety net: re-send the batches of running pushes left pending
    PUSH_BATCH_STALE_SECONDS after their last send that no worker holds (a killed worker,
    a lost queue); ask the partners again for the codes still waiting (cancelling the
    grants past their rounds or deadline); send the messages due (deferred ones whose quiet
    hours ended, queued ones a crash left unsent or whose codes came); finish the pushes
    whose batches are all done."""
    stale_before = now - timedelta(seconds=settings.PUSH_BATCH_STALE_SECONDS)
    with transaction.atomic():
        lost = DeliveryBatch.objects.select_for_update(skip_locked=True).filter(
            run__state=DeliveryState.RUNNING,
            state=BatchState.PENDING,
            enqueued_at__lt=stale_before,
        )
        resent = _resend(lost, now=now)
    partner_codes = request_partner_codes(now=now)
    sent = send_due_messages(now=now)
    finished = 0
    for run_id in DeliveryRun.objects.filter(state=DeliveryState.RUNNING).values_list(
        "pk", flat=True
    ):
        finished += _finish_if_complete(run_id, now=now)
    return {
        "resent_batches": resent,
        "messages": sent,
        "finished_pushes": finished,
        "partner_codes": partner_codes.issued,
        "cancelled_grants": len(partner_codes.cancelled_grants),
    }


def _resend(batches, *, now: datetime) -> int:
    ids = list(batches.values_list("pk", flat=True))
    DeliveryBatch.objects.filter(pk__in=ids).update(enqueued_at=now, sends=F("sends") + 1)
    _send_on_commit(ids)
    return len(ids)


def _send_on_commit(batch_ids: list[int]) -> None:
    from campaigns import tasks

    def send():
        for batch_id in batch_ids:
            tasks.deliver_push_batch_task.delay(batch_id)

    transaction.on_commit(send)


def _finish_if_complete(run_id: int, *, now: datetime) -> int:
    return (
        DeliveryRun.objects.filter(pk=run_id, state=DeliveryState.RUNNING)
        .exclude(batches__state=BatchState.PENDING)
        .update(state=DeliveryState.DONE, finished_at=now)
    )


def _batch_members(batch: DeliveryBatch, *, campaign_id: int) -> list[tuple[int, str]]:
    """(customer pk, customer_id) of the batch's audience members, in key order: the order
    the engine takes the customers' locks in, the same in every batch.

    The campaign is (SELECT %s), hidden from the planner as in the engine's key look-up:
    with statistics older than the audience record, its own id estimates one member, and
    (campaign, joined_at) would look as good as (campaign, customer) for the range."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT cu.id, cu.customer_id FROM campaigns_audiencemember m
            JOIN crm_customer cu ON cu.id = m.customer_id
            WHERE m.campaign_id = (SELECT %s) AND m.at_start
              AND m.customer_id BETWEEN %s AND %s
            ORDER BY m.customer_id
            """,
            [campaign_id, batch.first_customer_id, batch.last_customer_id],
        )
        return cursor.fetchall()
