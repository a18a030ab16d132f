"""The claim engine keeps reading a handful of rows per claim as its tables grow.

A connection keeps the engine's plans for its whole life (gunicorn's persistent
connections: ten minutes). Plans made while the claim tables were small once picked the
smallest index and then filtered a campaign's grants, or every unused coupon, on each claim:
10.8 ms per claim after 16,000 grants instead of 1.2 ms, and the HTTP benchmark fell from
386 to 120 claims/s run after run (closing note of issue 4, stop 7).
"""

from datetime import timedelta

import pytest
from django.db import connection

from campaigns.models import Coupon, Grant
from campaigns.services.claims import claim_batch, claim_coupon
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HISTORY = 20_000

READS = """
SELECT coalesce(sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)), 0)
FROM pg_stat_xact_user_tables WHERE relname = ANY(%s)
"""


def rows_read(tables: list[str]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(READS, [tables])
        return cursor.fetchone()[0]


def claim(campaign, customer, channel, now):
    return claim_coupon(
        campaign=campaign.code,
        customer=customer.customer_id,
        channel=channel.code,
        trigger="login",
        idempotency_key=f"key-{customer.customer_id}",
        now=now,
    )


def add_history(campaign, customer, channel, now) -> None:
    """HISTORY grants of the campaign, each with an unused coupon, for another customer
    (unused coupons read by nobody: the customer's own claims are never made)."""
    template = campaign.resources.get().template
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Grant._meta.db_table} (campaign_id, customer_id, channel_id, trigger,
                idempotency_key, request_fingerprint, granted_at, coupon_count, cost)
            SELECT %(campaign)s, %(customer)s, %(channel)s, 'login', 'history-' || n, '',
                %(now)s, 1, 10
            FROM generate_series(1, %(count)s) AS n
            """,
            {
                "campaign": campaign.pk,
                "customer": customer.pk,
                "channel": channel.pk,
                "now": now - timedelta(days=2),
                "count": HISTORY,
            },
        )
        cursor.execute(
            f"""
            INSERT INTO {Coupon._meta.db_table} (created_at, updated_at, code, template_id,
                campaign_id, grant_id, customer_id, status, self_claimed, issued_at,
                valid_from, valid_until, face_value, threshold)
            SELECT %(now)s, %(now)s, 'HISTORY' || g.id, %(template)s, g.campaign_id, g.id,
                g.customer_id, 'unused', false, %(now)s, %(now)s, %(now)s + interval '30 days',
                10, 50
            FROM {Grant._meta.db_table} g WHERE g.idempotency_key LIKE 'history-%%'
            """,
            {"now": now - timedelta(days=2), "template": template.pk},
        )
        # Check the history's foreign keys now, so the claim below reads only its own rows.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_a_claim_reads_a_handful_of_rows_after_its_tables_grew_under_kept_plans(
    make_campaign, app_push, as_of
):
    # given: plans made on this connection while the claim tables held a few rows
    with connection.cursor() as cursor:
        cursor.execute("DISCARD PLANS")
    campaign = make_campaign(stock=HISTORY + 100, budget=(HISTORY + 100) * 10)
    for _ in range(8):
        assert claim(campaign, CustomerFactory(), app_push, as_of).created is True
    # ... and then 20,000 grants and unused coupons more
    add_history(campaign, CustomerFactory(), app_push, as_of)
    newcomer = CustomerFactory()
    tables = ["campaigns_grant", "campaigns_coupon"]
    before = rows_read(tables)
    # when: the same connection claims again
    result = claim(campaign, newcomer, app_push, as_of)
    # then: it read a few rows of those tables, not the campaign's history
    assert result.created is True
    assert rows_read(tables) - before <= 5


def test_a_batch_finds_its_keys_by_the_unique_index_when_the_statistics_predate_its_campaign(
    make_campaign, app_push, as_of
):
    # given: statistics taken while the grants belonged to another campaign (a push starts
    # long after the last ANALYZE; autovacuum lags behind a push or is off)
    earlier = make_campaign(stock=100)
    for _ in range(8):
        assert claim(earlier, CustomerFactory(), app_push, as_of).created is True
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_grant")
    # ... and then a new campaign with 20,000 grants the statistics know nothing of
    campaign = make_campaign(stock=HISTORY + 100, budget=(HISTORY + 100) * 10)
    add_history(campaign, CustomerFactory(), app_push, as_of)
    newcomers = [CustomerFactory().customer_id for _ in range(10)]
    before = rows_read(["campaigns_grant"])
    # when: a batch of the campaign looks its keys up, before and under its locks
    answers = claim_batch(
        campaign=campaign.code,
        customers=newcomers,
        idempotency_keys=[f"push-{customer}" for customer in newcomers],
        channel=app_push.code,
        trigger="login",
        now=as_of,
    )
    # then: a few grant rows per customer, not the campaign's 20,000 for each key
    assert [answer.outcome for answer in answers] == ["granted"] * 10
    assert rows_read(["campaigns_grant"]) - before <= 5 * len(newcomers)
