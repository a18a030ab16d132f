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
