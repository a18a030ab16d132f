"""Benchmark: a scheduled push to the 1,000,000-customer bench audience (issue: Campaigns II).

A running scheduled_push campaign on a segment of every customer (order_count >= 0), with
a 10% holdout, two off-site channels (app_push with a daily cap of 1, wechat_oa), the demo
data's consent, and the logging channel backend: the push grants through the claim
engine's batch entry in Celery batches and writes a message row per treated customer and
channel. Measured from the start of the campaign (the audience record, the batches) until
the push is done, with one worker process and with two.

Baseline, in the same run: hand-written INSERT … SELECT statements that write the same rows
the push writes for the same customers (the audience record, grants, coupons, counters,
claim locks, ledger rows for grants and holdout refusals, messages with consent and cap,
the campaign's counters), on a twin campaign. Ratio = push / baseline.

Usage (repository root; the bench database of bench_claims, 1M customers):
    .venv/bin/python -m bench.bench_push                         # 1 and 2 workers
    .venv/bin/python -m bench.bench_push --workers 2             # 2 workers only
    .venv/bin/python -m bench.bench_push --database opscrm_small # another generated database
    .venv/bin/python -m bench.bench_push --rules '{"field":"city","op":"eq","value":"Shanghai"}'
"""

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bench.harness import print_environment, print_table, setup_django

SERVER = "postgres://postgres@127.0.0.1:5432"
REPOSITORY = Path(__file__).resolve().parent.parent
BATCH_SIZE = 1000
BROKER = "redis://127.0.0.1:6379/14"


def prepare(label: str, rules: dict | None = None):
    """A fresh scheduled campaign (and template: the anti-harassment interval would refuse
    a template granted by the previous run) on the bench audience."""
    from django.utils import timezone

    from campaigns.models import Campaign, CampaignResource, CouponTemplate, HarassmentSettings
    from campaigns.services.campaign_setup import set_channels
    from crm.models import Channel
    from segments.models import Segment
    from segments.rules import canonical_rules

    HarassmentSettings.objects.update_or_create(
        pk=1, defaults={"max_unused_coupons": 100, "min_hours_between_same_template": 24}
    )
    rules = rules or {"field": "order_count", "op": "gte", "value": 0}
    name = f"bench push: {json.dumps(rules, sort_keys=True)}"
    segment = Segment.objects.filter(name=name).first() or Segment.objects.create(
        name=name, rules=canonical_rules(rules)
    )
    for code, cap in (("app_push", 1), ("wechat_oa", None)):
        Channel.objects.update_or_create(
            code=code, defaults={"name": code, "kind": "off_site", "daily_message_cap": cap}
        )
    stamp = f"{label}-{int(time.time())}"
    template = CouponTemplate.objects.create(
        code=f"bench-push-{stamp}", name="bench push", kind="cash",
        face_value=Decimal("5"), threshold=Decimal("30"), valid_days=7,
    )  # fmt: skip
    now = timezone.now()
    campaign = Campaign.objects.create(
        code=f"bench-push-{stamp}", name="bench push", business_line=f"bench {stamp}",
        segment=segment, claim_starts_at=now + timedelta(hours=1),
        claim_ends_at=now + timedelta(days=3), trigger="scheduled_push",
        daily_limit_per_customer=1, limit_per_customer=1, stock=3_000_000,
        budget=Decimal("20000000"), holdout_share=Decimal("0.1"), status="scheduled",
    )  # fmt: skip
    CampaignResource.objects.create(campaign=campaign, template=template, quantity=1)
    set_channels(campaign, list(Channel.objects.filter(code__in=["app_push", "wechat_oa"])))
    return campaign


def start_workers(count: int) -> list[subprocess.Popen]:
    environment = {
        **os.environ,
        "DATABASE_URL": os.environ["BENCH_DSN"],
        "DEBUG": "true",
        "CELERY_BROKER_URL": BROKER,
        "LOG_LEVEL": "INFO",
    }
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "crm",
                "worker",
                "--pool=solo",
                "-n",
                f"bench{n}@%h",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPOSITORY,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]
    time.sleep(6)
    return workers


def push(campaign, *, workers: int) -> dict:
    from django.utils import timezone

    from campaigns.models import DeliveryRun, Grant, Message
    from campaigns.services import lifecycle

    processes = start_workers(workers)
    try:
        started = time.perf_counter()
        lifecycle.start_campaign(campaign=campaign, actor=None, now=timezone.now())
        recorded = time.perf_counter() - started
        while DeliveryRun.objects.get(campaign=campaign).state != "done":
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()
    grants = Grant.objects.filter(campaign=campaign).count()
    return {
        "seconds": elapsed,
        "record_and_batches_s": recorded,
        "grants": grants,
        "messages": Message.objects.filter(campaign=campaign).count(),
        "grants_per_s": grants / elapsed,
    }


BASELINE = """
WITH audience AS (
    INSERT INTO campaigns_audiencemember (campaign_id, customer_id, treated, joined_at, at_start)
    SELECT %(campaign)s, c.id,
           NOT campaigns_holdout_draw(%(campaign)s, c.id) < 0.1 * 18446744073709551616,
           %(now)s, TRUE
    FROM crm_customer c WHERE c.id IN ({members})
    RETURNING customer_id, treated
), refused AS (
    INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
        channel_code, reason, amount)
    SELECT 'refusal', %(now)s, %(campaign)s, a.customer_id, NULL, 'app_push', 'holdout', 0
    FROM audience a WHERE NOT a.treated
), locks AS (
    INSERT INTO campaigns_customerclaimlock (customer_id)
    SELECT a.customer_id FROM audience a WHERE a.treated
    ON CONFLICT (customer_id) DO NOTHING
), grants AS (
    INSERT INTO campaigns_grant (campaign_id, customer_id, channel_id, trigger, idempotency_key,
        request_fingerprint, granted_at, coupon_count, cost)
    SELECT %(campaign)s, a.customer_id, %(channel)s, 'scheduled_push',
           'push-base-' || a.customer_id, md5(a.customer_id::text), %(now)s, 1, 5
    FROM audience a WHERE a.treated
    RETURNING id, customer_id
), counters AS (
    INSERT INTO campaigns_customercampaigncounter (campaign_id, customer_id, total_grants,
        limit_total, day, day_grants, limit_daily)
    SELECT %(campaign)s, g.customer_id, 1, 1, %(today)s, 1, 1 FROM grants g
), coupons AS (
    INSERT INTO campaigns_coupon (created_at, updated_at, code, template_id, campaign_id,
        grant_id, customer_id, status, self_claimed, issued_at, valid_from, valid_until,
        face_value, threshold, status_changed_at, partner_code, partner_attempts,
        partner_error)
    SELECT %(now)s, %(now)s, upper(substr(md5(random()::text || g.id), 1, 12)), %(template)s,
           %(campaign)s, g.id, g.customer_id, 'unused', FALSE, %(now)s, %(now)s,
           %(now)s + interval '7 days', 5, 30, NULL, '', 0, ''
    FROM grants g
    RETURNING id, customer_id
), ledger AS (
    INSERT INTO campaigns_couponevent (kind, at, campaign_id, customer_id, coupon_id,
        channel_code, reason, amount)
    SELECT 'grant', %(now)s, %(campaign)s, k.customer_id, k.id, 'app_push', '', 5
    FROM coupons k
), messages AS (
    INSERT INTO campaigns_message (campaign_id, run_id, customer_id, channel_id, status, reason,
        created_at, due_at, sent_at, attempts, last_error)
    SELECT %(campaign)s, NULL, g.customer_id, ch.id,
           CASE WHEN coalesce(cu.consent -> ch.code = 'true'::jsonb, FALSE)
                THEN 'sent' ELSE 'suppressed' END,
           CASE WHEN coalesce(cu.consent -> ch.code = 'true'::jsonb, FALSE)
                THEN '' ELSE 'no_consent' END,
           %(now)s, %(now)s, %(now)s, 1, ''
    FROM grants g JOIN crm_customer cu ON cu.id = g.customer_id
    CROSS JOIN crm_channel ch WHERE ch.code IN ('app_push', 'wechat_oa')
)
UPDATE campaigns_campaign SET issued_count = (SELECT count(*) FROM grants),
    spent = 5 * (SELECT count(*) FROM grants), audience_recorded_at = %(now)s
WHERE id = %(campaign)s
"""


def baseline(campaign) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.models import Campaign, Grant
    from crm.models import Customer
    from segments.selectors import segment_audience

    now = timezone.now()
    audience = segment_audience(segment=campaign.segment)
    members, member_params = (
        Customer.objects.filter(audience.membership(as_of=now, as_of_is_now=True))
        .values("pk")
        .query.sql_with_params()
    )
    # The audience's SQL takes positional parameters: inline them as the literals they are.
    with connection.cursor() as cursor:
        members = cursor.mogrify(members, member_params)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            BASELINE.replace("{members}", members),
            {
                "campaign": campaign.pk,
                "now": now,
                "today": timezone.localdate(now),
                "channel": Campaign.channels.through.objects.filter(campaign=campaign)
                .order_by("pk")
                .values_list("channel_id", flat=True)[0],
                "template": campaign.resources.get().template_id,
            },
        )
    elapsed = time.perf_counter() - started
    grants = Grant.objects.filter(campaign=campaign).count()
    return {"seconds": elapsed, "grants": grants, "grants_per_s": grants / elapsed}


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="opscrm_bench")
    parser.add_argument(
        "--rules", default=None, help="the audience as segment rules (JSON); default every customer"
    )
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts to push with (1 2)"
    )
    arguments = parser.parse_args()
    os.environ["BENCH_DSN"] = f"{SERVER}/{arguments.database}"
    os.environ["PUSH_BATCH_SIZE"] = str(BATCH_SIZE)
    os.environ["CELERY_BROKER_URL"] = BROKER
    setup_django(os.environ["BENCH_DSN"])
    print_environment(os.environ["BENCH_DSN"])
    print(f"batch size {BATCH_SIZE}; logging channel backend; holdout 10%; app_push cap 1/day")
    rows = []
    rules = json.loads(arguments.rules) if arguments.rules else None
    print(f"audience: {arguments.rules or 'every customer'}")
    base = baseline(prepare("base", rules))
    rows.append(["hand-written INSERT … SELECT", f"{base['seconds']:.1f}", base["grants"],
                 f"{base['grants_per_s']:.0f}", "1.00"])  # fmt: skip
    for workers in arguments.workers:
        campaign = prepare(f"w{workers}", rules)
        # Statistics from before the push, as a push meets them anywhere (autovacuum, when
        # on, analyzes after the rows are written): they know the earlier campaigns' grants,
        # messages and audiences, and nothing of this one's.
        analyze()
        result = push(campaign, workers=workers)
        rows.append([
            f"push, {workers} worker{'s' if workers > 1 else ''}", f"{result['seconds']:.1f}",
            result["grants"], f"{result['grants_per_s']:.0f}",
            f"{result['seconds'] / base['seconds']:.2f}",
        ])  # fmt: skip
        made = result["record_and_batches_s"]
        print(f"  ({workers} workers: audience record and batches {made:.1f} s, "
              f"{result['messages']} messages)")  # fmt: skip
    headers = ["case", "seconds", "grants", "grants/s", "x baseline"]
    print_table([dict(zip(headers, row, strict=True)) for row in rows])


if __name__ == "__main__":
    main()
