"""The audience record of a campaign (SPEC §4), written when the campaign starts running.

The segment's members at that moment are recorded in one INSERT … SELECT over the compiled
segment, each treated or held out by the claim engine's own draw (campaigns_holdout_draw,
campaigns/sql/claim_coupon.sql), so the record and the engine never disagree on a group.
Members who join a dynamic segment later are added by the engine at their claim. The
record is taken once: a campaign paused and resumed keeps its first one.
"""

from datetime import datetime

from django.db import connection

from campaigns.models import Campaign
from campaigns.selectors import holdout_sql, members_of_campaign
from crm.models import Customer
from segments.rules import RuleError
from segments.selectors import segment_audience


def record_audience(*, campaign: Campaign, now: datetime) -> int:
    """Record `campaign`'s audience at `now` unless it was recorded before; returns how many
    members were recorded. Call it inside the transaction that makes the campaign running,
    so the record and the status commit together."""
    first = Campaign.objects.filter(pk=campaign.pk, audience_recorded_at__isnull=True).update(
        audience_recorded_at=now
    )
    campaign.audience_recorded_at = campaign.audience_recorded_at or now
    if not first:
        return 0
    try:
        audience = segment_audience(segment=campaign.segment)
    except RuleError:
        # Rules that no longer validate admit nobody: every claim is refused
        # (not_in_audience) until the segment is fixed, and those who then claim join.
        return 0
    members, params = (
        members_of_campaign(
            Customer.objects.filter(audience.membership(as_of=now, as_of_is_now=True)), campaign
        )
        .order_by()
        .values("pk")
        .query.sql_with_params()
    )
    held_out, held_out_params = holdout_sql(campaign=campaign, customer_pk="member.id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO campaigns_audiencemember (campaign_id, customer_id, treated, joined_at,
                                                  at_start)
            SELECT %s, member.id, NOT {held_out}, %s, TRUE
            FROM ({members}) AS member (id)
            ON CONFLICT (campaign_id, customer_id) DO NOTHING
            """,
            [campaign.pk, *held_out_params, now, *params],
        )
        return cursor.rowcount
