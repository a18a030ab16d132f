"""Build the campaigns' hourly facts (analytics.models.CampaignHourFact): what each hour
of the operator's clock before the build's hour added to every campaign's measures, so a
report of a campaign with a million grants reads a few thousand fact rows and the last
hour's own rows instead of scanning its grants, coupons, messages, audience and their
orders (analytics.campaign_measures reads them, with the same definitions). Hours, not
days: a report as of any whole hour reads no rows at all, and one as of now only the rows
since the last build, which beat runs every hour.

Every build replaces the previous one in one transaction (a reader sees a whole build or
the one before), set-based: one INSERT … SELECT per kind of fact, grouped by campaign,
channel and hour (date_trunc in the operator's time zone). A build is a full one, so what
reached the database late (an order imported with an old date, a refund) is in the next
one: the reports say when the facts they used were built.
"""

from datetime import datetime

from django.db import connection, transaction

from analytics.models import CampaignFacts, CampaignHourFact
from campaigns.operator_time import operator_zone_name
from crm.core.operator_calendar import start_of_local_hour

# Columns the INSERTs leave out take their database default (0).
FACTS = CampaignHourFact._meta.db_table

_INSERTS = {
    "audience": f"""
        INSERT INTO {FACTS} (campaign_id, hour, audience, holdout)
        SELECT campaign_id, date_trunc('hour', joined_at, %(zone)s),
               count(*), count(*) FILTER (WHERE NOT treated)
        FROM campaigns_audiencemember WHERE joined_at < %(until)s
        GROUP BY 1, 2
    """,
    # A message is sent or fails once, so its settled time is the one of the two it has.
    "messages": f"""
        INSERT INTO {FACTS} (campaign_id, channel_id, hour, delivered, delivery_failed)
        SELECT m.campaign_id, m.channel_id,
               date_trunc('hour', coalesce(m.sent_at, m.failed_at), %(zone)s),
               count(*) FILTER (WHERE m.status = 'sent'),
               count(*) FILTER (WHERE m.status = 'failed')
        FROM campaigns_message m JOIN crm_channel ch ON ch.id = m.channel_id
        WHERE ch.kind = 'off_site' AND m.status IN ('sent', 'failed')
          AND coalesce(m.sent_at, m.failed_at) < %(until)s
        GROUP BY 1, 2, 3
    """,
    "grants": f"""
        INSERT INTO {FACTS} (campaign_id, channel_id, hour, claimed, coupons_issued)
        SELECT campaign_id, channel_id, date_trunc('hour', granted_at, %(zone)s),
               count(*), sum(coupon_count)
        FROM campaigns_grant WHERE granted_at < %(until)s
        GROUP BY 1, 2, 3
    """,
    # Gross: reversed ones too (the reports take them back), each with its order's amount.
    "redemptions": f"""
        INSERT INTO {FACTS} (campaign_id, channel_id, hour, redeemed, cost, order_amounts)
        SELECT c.campaign_id, g.channel_id, date_trunc('hour', r.redeemed_at, %(zone)s),
               count(*), sum(r.discount), sum(r.order_amount)
        FROM campaigns_redemption r
        JOIN campaigns_coupon c ON c.id = r.coupon_id
        JOIN campaigns_grant g ON g.id = c.grant_id
        WHERE r.redeemed_at < %(until)s
        GROUP BY 1, 2, 3
    """,
    # Gross: revoked ones too (the reports take them back).
    "burn": f"""
        INSERT INTO {FACTS} (campaign_id, hour, burn_issued, burn_face_value)
        SELECT campaign_id, date_trunc('hour', issued_at, %(zone)s), count(*), sum(face_value)
        FROM campaigns_coupon WHERE issued_at < %(until)s
        GROUP BY 1, 2
    """,
    # Lift's sums over the audience of each member's paid GMV in the window: a member enters
    # them in the hour it joins with what it spent in the window by then, and each later
    # hour it spends changes its value from (spent - amount) to spent.
    "lift": f"""
        WITH members AS (
            SELECT a.campaign_id, a.customer_id, a.treated,
                   date_trunc('hour', a.joined_at, %(zone)s) AS joined_hour,
                   c.claim_starts_at AS starts_at, c.claim_ends_at AS ends_at
            FROM campaigns_audiencemember a JOIN campaigns_campaign c ON c.id = a.campaign_id
            WHERE a.joined_at < %(until)s
        ), hourly AS (
            SELECT m.campaign_id, m.customer_id, m.treated, m.joined_hour,
                   date_trunc('hour', o.placed_at, %(zone)s) AS hour, sum(o.amount) AS amount
            FROM members m JOIN crm_order o ON o.customer_id = m.customer_id
                 AND o.status = 'paid' AND o.placed_at >= m.starts_at
                 AND o.placed_at < m.ends_at AND o.placed_at < %(until)s
            GROUP BY 1, 2, 3, 4, 5
        ), running AS (
            SELECT *, sum(amount) OVER (PARTITION BY campaign_id, customer_id ORDER BY hour)
                      AS spent
            FROM hourly
        ), changes AS (
            SELECT campaign_id, treated, joined_hour AS hour, sum(amount) AS spend,
                   sum(amount) * sum(amount) AS squares
            FROM hourly WHERE hour <= joined_hour
            GROUP BY campaign_id, customer_id, treated, joined_hour
            UNION ALL
            SELECT campaign_id, treated, hour, amount,
                   spent * spent - (spent - amount) * (spent - amount)
            FROM running WHERE hour > joined_hour
        )
        INSERT INTO {FACTS} (campaign_id, hour, treated_spend, treated_spend_squares,
                             holdout_spend, holdout_spend_squares)
        SELECT campaign_id, hour,
               coalesce(sum(spend) FILTER (WHERE treated), 0),
               coalesce(sum(squares) FILTER (WHERE treated), 0),
               coalesce(sum(spend) FILTER (WHERE NOT treated), 0),
               coalesce(sum(squares) FILTER (WHERE NOT treated), 0)
        FROM changes GROUP BY 1, 2
    """,
}


def build_campaign_facts(*, now: datetime) -> datetime:
    """Replace every campaign's hourly facts with what the database holds of the hours
    before `now`'s, in one transaction (readers see the previous build until it commits;
    a second build waits for the first, then replaces it); returns that hour's start (the
    facts' `until`). Beat runs it 20 minutes past the hour, so writes stamped before the
    hour have committed."""
    until = start_of_local_hour(now)
    params = {"until": until, "zone": operator_zone_name()}
    with transaction.atomic(), connection.cursor() as cursor:
        # One build at a time: a second waits and then replaces the first's rows.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('analytics.build_campaign_facts'))")
        cursor.execute(f"DELETE FROM {FACTS}")
        CampaignFacts.objects.all().delete()
        cursor.execute(
            f"""
            INSERT INTO {CampaignFacts._meta.db_table}
                (campaign_id, until, built_at, claim_starts_at, claim_ends_at)
            SELECT id, %(until)s, %(now)s, claim_starts_at, claim_ends_at
            FROM campaigns_campaign
            """,
            {**params, "now": now},
        )
        for statement in _INSERTS.values():
            cursor.execute(statement, params)
    return until
