"""The campaign report's JSON (SPEC §5): money as decimal strings, rates and ROI as
unrounded numbers, null where a denominator is 0 or a measure does not apply."""

from datetime import UTC, datetime

from rest_framework import serializers

MONEY = {"max_digits": 16, "decimal_places": 2, "coerce_to_string": True}


class MeasuresSerializer(serializers.Serializer):
    audience = serializers.IntegerField(allow_null=True, help_text="Null per channel.")
    holdout = serializers.IntegerField(allow_null=True, help_text="Null per channel.")
    delivered = serializers.IntegerField(help_text="Off-site messages sent.")
    delivery_failed = serializers.IntegerField(help_text="Off-site messages failed.")
    claimed = serializers.IntegerField(help_text="Grants.")
    claim_rate = serializers.FloatField(
        allow_null=True, help_text="claimed / (audience - holdout); null per channel."
    )
    redeemed = serializers.IntegerField(help_text="Live redemptions.")
    redemption_rate = serializers.FloatField(allow_null=True, help_text="redeemed / coupons.")
    gmv = serializers.DecimalField(**MONEY, help_text="Redeeming orders' amounts, once each.")
    cost = serializers.DecimalField(**MONEY, help_text="Discounts given (not face values).")
    roi = serializers.FloatField(allow_null=True, help_text="gmv / cost.")
    aov = serializers.DecimalField(**MONEY, allow_null=True, help_text="gmv / orders.")
    incremental_gmv = serializers.DecimalField(**MONEY, allow_null=True)
    lift = serializers.FloatField(allow_null=True)
    lift_ci = serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text="[low, high]: Welch's 95% interval divided by the holdout mean.",
    )


class ChannelMeasuresSerializer(MeasuresSerializer):
    channel = serializers.CharField(help_text="The channel's code.")

    def get_fields(self):
        # The channel first, as SPEC §5 writes it.
        fields = super().get_fields()
        return {"channel": fields.pop("channel"), **fields}


class DaySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The operator's calendar day.")
    claimed = serializers.IntegerField()
    redeemed = serializers.IntegerField()


class BurnSerializer(serializers.Serializer):
    stock = serializers.IntegerField()
    issued = serializers.IntegerField(help_text="Coupons issued.")
    budget = serializers.DecimalField(**MONEY)
    spent = serializers.DecimalField(**MONEY, help_text="Face value issued.")


class CampaignReportSerializer(serializers.Serializer):
    campaign = serializers.CharField(source="campaign.code")
    as_of = serializers.DateTimeField()
    total = MeasuresSerializer()
    channels = serializers.SerializerMethodField()
    series = DaySerializer(many=True)
    burn = BurnSerializer()

    def get_channels(self, report) -> list[dict]:
        return [
            ChannelMeasuresSerializer({"channel": code, **vars(measures)}).data
            for code, measures in report.channels.items()
        ]


# Reports cover campaigns of this era; outside it the operator's zone has no whole-minute
# offset to write (Asia/Shanghai before 1901 is +08:05:43, not an RFC 3339 time).
EARLIEST_AS_OF = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AS_OF = datetime(2100, 1, 1, tzinfo=UTC)


class ReportQuerySerializer(serializers.Serializer):
    as_of = serializers.DateTimeField(
        required=False,
        help_text="The report as of this moment (default: now), from 1970 to 2099.",
    )

    def validate_as_of(self, value: datetime) -> datetime:
        if not EARLIEST_AS_OF <= value < LATEST_AS_OF:
            raise serializers.ValidationError("Give a moment from 1970 to 2099.")
        return value


class OverviewCampaignSerializer(MeasuresSerializer):
    campaign = serializers.CharField(source="campaign.code", help_text="The campaign's code.")
    name = serializers.CharField(source="campaign.name")
    status = serializers.CharField(source="campaign.status")
    business_line = serializers.CharField(source="campaign.business_line")
    campaign_type = serializers.CharField(source="campaign.campaign_type")
    claim_starts_at = serializers.DateTimeField(source="campaign.claim_starts_at")
    claim_ends_at = serializers.DateTimeField(source="campaign.claim_ends_at")

    def to_representation(self, row):
        # The campaign's attributes first, then its measures.
        head = {
            name: self.fields[name].to_representation(self.fields[name].get_attribute(row))
            for name in OVERVIEW_HEAD
        }
        return {**head, **MeasuresSerializer(row.measures).data}


OVERVIEW_HEAD = (
    "campaign",
    "name",
    "status",
    "business_line",
    "campaign_type",
    "claim_starts_at",
    "claim_ends_at",
)


class CampaignOverviewSerializer(serializers.Serializer):
    first_day = serializers.DateField(source="period.first_day")
    last_day = serializers.DateField(source="period.last_day")
    as_of = serializers.DateTimeField(help_text="The measures' moment: the period's end or now.")
    total = MeasuresSerializer(help_text="Over all the campaigns listed (no lift).")
    campaigns = OverviewCampaignSerializer(many=True, source="rows")
    channels = serializers.SerializerMethodField(
        help_text="Per channel across the campaigns listed (no audience, no lift)."
    )

    def get_channels(self, overview) -> list[dict]:
        return [
            ChannelMeasuresSerializer({"channel": code, **vars(measures)}).data
            for code, measures in overview.channels.items()
        ]


class LiveCampaignSerializer(serializers.Serializer):
    campaign = serializers.CharField(source="campaign.code")
    status = serializers.CharField(source="campaign.status")
    grants_per_minute = serializers.ListField(
        source="per_minute",
        child=serializers.IntegerField(),
        help_text="Grants in each of the last 30 minutes, oldest first; the last is the "
        "minute in progress.",
    )
    stock_left = serializers.IntegerField()
    budget_left = serializers.DecimalField(**MONEY)
    refusals = serializers.DictField(
        child=serializers.IntegerField(), help_text="Reason -> claims refused in the last hour."
    )


class LivePushSerializer(serializers.Serializer):
    campaign = serializers.CharField()
    state = serializers.CharField()
    total = serializers.IntegerField()
    processed = serializers.IntegerField()
    granted = serializers.IntegerField()


class LiveMonitorSerializer(serializers.Serializer):
    now = serializers.DateTimeField()
    campaigns = LiveCampaignSerializer(many=True)
    pushes = serializers.SerializerMethodField()

    def get_pushes(self, monitor) -> list[dict]:
        return [
            LivePushSerializer({"campaign": campaign.code, **vars(push)}).data
            for campaign, push in monitor.pushes
        ]


class MonthStagesSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month's first day.")
    at = serializers.DateTimeField(help_text="The moment the stages are read.")
    stages = serializers.DictField(child=serializers.IntegerField())


class FlowSerializer(serializers.Serializer):
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    customers = serializers.IntegerField()


class RfmCellSerializer(serializers.Serializer):
    recency = serializers.IntegerField()
    frequency = serializers.IntegerField()
    customers = serializers.IntegerField()
    revenue = serializers.DecimalField(**MONEY, help_text="Their paid GMV in the period.")


class FunnelStepSerializer(serializers.Serializer):
    step = serializers.CharField()
    customers = serializers.IntegerField(help_text="At this step or above.")
    conversion = serializers.FloatField(allow_null=True, help_text="Over the step before.")


class CohortSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month of the first paid order.")
    customers = serializers.IntegerField()
    retention = serializers.ListField(child=serializers.FloatField())
    ltv = serializers.ListField(child=serializers.DecimalField(**MONEY))


class SegmentValueSerializer(serializers.Serializer):
    segment = serializers.IntegerField(source="segment.pk")
    name = serializers.CharField(source="segment.name")
    customers = serializers.IntegerField()
    ltv = serializers.DecimalField(**MONEY, allow_null=True)
    problem = serializers.CharField(help_text="Why there is no value (rules that fail).")


class CustomerBaseSerializer(serializers.Serializer):
    first_day = serializers.DateField(source="period.first_day")
    last_day = serializers.DateField(source="period.last_day")
    as_of = serializers.DateTimeField()
    segment = serializers.IntegerField(source="segment.pk", allow_null=True, default=None)
    customers = serializers.IntegerField()
    stages_by_month = MonthStagesSerializer(many=True)
    flows = FlowSerializer(many=True)
    rfm = RfmCellSerializer(many=True)
    funnel = FunnelStepSerializer(many=True)
    cohorts = CohortSerializer(many=True)
    segments = SegmentValueSerializer(many=True)
    facts_as_of = serializers.DateTimeField(
        source="facts.as_of",
        allow_null=True,
        default=None,
        help_text="The monthly facts' moment when the numbers come from them; null when "
        "computed from the orders on this request.",
    )
    computed_in_background = serializers.BooleanField(
        help_text="The numbers come from a computation run in the background from the page "
        "(as of `as_of`), for a period and segment too slow to compute on a request."
    )
    facts_stale = serializers.BooleanField(
        help_text="The period runs past facts more than a day old (the nightly build has "
        "not succeeded since)."
    )


class CustomerBaseSnapshotSerializer(serializers.Serializer):
    """A customer base computed in the background, as its job goes."""

    job = serializers.IntegerField(source="job.pk")
    status = serializers.CharField(source="job.status")
    total = serializers.IntegerField(source="job.total")
    done = serializers.IntegerField(source="job.done")
    percent = serializers.IntegerField(source="job.percent")
    message = serializers.CharField(source="job.message")
    created_at = serializers.DateTimeField(source="job.created_at")
    started_at = serializers.DateTimeField(source="job.started_at", allow_null=True)
    finished_at = serializers.DateTimeField(source="job.finished_at", allow_null=True)
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    as_of = serializers.DateTimeField(
        allow_null=True, help_text="The numbers' moment, once computed."
    )


class CustomerBaseSnapshotRequestSerializer(serializers.Serializer):
    """What to compute: the customer base's own filters (documentation of the body)."""

    first_day = serializers.DateField(required=False)
    last_day = serializers.DateField(required=False)
    segment = serializers.IntegerField(required=False, help_text="A saved segment's id.")
