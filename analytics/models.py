"""The customer base's monthly facts: the whole base's report tables pre-aggregated for
every period of whole months in the last FACT_MONTHS months (analytics.services.
customer_base_facts builds them; analytics.customer_base reads them).

One CustomerBaseFacts row per build, written with its fact rows in one transaction, so a
reader sees a whole build or none. Moments are the starts of the operator's months and the
build's `as_of`; a period runs from one month's start to a later month's start or `as_of`.
"""

from django.db import models
from django.utils.timezone import localtime

from crm.core.models import Job
from crm.enums import LifecycleStage


class CustomerBaseFacts(models.Model):
    # The build's moment: nothing after it is counted; the page says how old it is.
    as_of = models.DateTimeField()
    # The first month covered (the operator's calendar).
    first_month = models.DateField()
    # Every customer at the build (the page's headline count).
    customers = models.PositiveIntegerField()
    job = models.OneToOneField(Job, null=True, blank=True, on_delete=models.SET_NULL)
    built_at = models.DateTimeField()

    class Meta:
        ordering = ["-as_of"]
        verbose_name_plural = "customer base facts"

    def __str__(self) -> str:
        return f"customer base facts as of {self.as_of:%Y-%m-%d %H:%M}"


class StageFact(models.Model):
    """Customers in each stage at `at` (registered by then, or with a paid order)."""

    facts = models.ForeignKey(CustomerBaseFacts, on_delete=models.CASCADE, related_name="stages")
    at = models.DateTimeField()
    stage = models.CharField(max_length=12, choices=LifecycleStage.choices)
    customers = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["facts", "at", "stage"], name="stage_fact_unique")
        ]

    def __str__(self) -> str:
        return f"{self.stage} at {self.at:%Y-%m-%d}: {self.customers}"


class PeriodFact(models.Model):
    """The AIPL funnel of one period: customers at each step or above."""

    facts = models.ForeignKey(CustomerBaseFacts, on_delete=models.CASCADE, related_name="periods")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    aware = models.PositiveIntegerField()
    interested = models.PositiveIntegerField()
    purchased = models.PositiveIntegerField()
    loyal = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["facts", "starts_at", "ends_at"], name="period_fact_unique"
            )
        ]

    def __str__(self) -> str:
        return f"funnel {self.starts_at:%Y-%m-%d} to {self.ends_at:%Y-%m-%d}"


class FlowFact(models.Model):
    """Customers by (stage at a period's start, stage at its end)."""

    facts = models.ForeignKey(CustomerBaseFacts, on_delete=models.CASCADE, related_name="flows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    from_stage = models.CharField(max_length=12, choices=LifecycleStage.choices)
    to_stage = models.CharField(max_length=12, choices=LifecycleStage.choices)
    customers = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["facts", "starts_at", "ends_at"])]

    def __str__(self) -> str:
        return f"{self.from_stage} to {self.to_stage}: {self.customers}"


class RfmFact(models.Model):
    """An RFM cell at a period's end, with its customers' paid GMV in the period."""

    facts = models.ForeignKey(CustomerBaseFacts, on_delete=models.CASCADE, related_name="rfm")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    recency = models.PositiveSmallIntegerField()
    frequency = models.PositiveSmallIntegerField()
    customers = models.PositiveIntegerField()
    revenue = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["facts", "starts_at", "ends_at"])]

    def __str__(self) -> str:
        return f"R{self.recency}F{self.frequency}: {self.customers}"


class CohortFact(models.Model):
    """Customers whose first paid order was in `cohort` with a paid order in `month`, and
    those orders' GMV (the cohort's size is its row where month = cohort)."""

    facts = models.ForeignKey(CustomerBaseFacts, on_delete=models.CASCADE, related_name="cohorts")
    cohort = models.DateField()
    month = models.DateField()
    customers = models.PositiveIntegerField()
    gmv = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["facts", "cohort", "month"], name="cohort_fact_unique")
        ]

    def __str__(self) -> str:
        return f"cohort {self.cohort:%Y-%m} in {self.month:%Y-%m}: {self.customers}"


class SegmentFact(models.Model):
    """A saved segment's members at the build's as_of and their paid GMV up to it per
    member (LTV by segment); `problem` names rules that no longer validate."""

    facts = models.ForeignKey(CustomerBaseFacts, on_delete=models.CASCADE, related_name="segments")
    segment = models.ForeignKey("segments.Segment", on_delete=models.CASCADE, related_name="+")
    customers = models.PositiveIntegerField()
    ltv = models.DecimalField(max_digits=18, decimal_places=2, null=True)
    problem = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.customers}"


class CustomerBaseSnapshot(models.Model):
    """One customer base computed in the background for a period and optionally a segment:
    what the monthly facts do not answer and a request cannot compute in time (a segment's
    at a million customers takes minutes). Created with its job; `data` and `as_of` are
    set when it is computed (analytics.services.customer_base_snapshots), and the page and
    the API then read it (analytics.customer_base)."""

    first_day = models.DateField()
    last_day = models.DateField()
    segment = models.ForeignKey(
        "segments.Segment", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The segment's rules when it was asked for: one edited since is another audience.
    segment_rules = models.JSONField(null=True, blank=True)
    job = models.OneToOneField(Job, on_delete=models.CASCADE)
    # The numbers' moment: the period's end, or the computation's when the period runs on.
    as_of = models.DateTimeField(null=True, blank=True)
    # The computed customer base (analytics.customer_base.encoded_base).
    data = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["first_day", "last_day", "segment", "-as_of"],
                name="base_snapshot_lookup",
            )
        ]

    def __str__(self) -> str:
        return f"customer base {self.first_day} to {self.last_day} ({self.job.status})"


class CampaignFacts(models.Model):
    """The last hourly facts build of one campaign (analytics.services.campaign_facts):
    its CampaignHourFact rows hold what happened in each operator hour before `until`, as
    the database held it at `built_at`; the reports read them for those hours and the rows
    themselves after (analytics.campaign_measures)."""

    campaign = models.OneToOneField(
        "campaigns.Campaign", on_delete=models.CASCADE, related_name="+"
    )
    # A start of an operator hour: events before it are in the facts.
    until = models.DateTimeField()
    built_at = models.DateTimeField()
    # The claim window the lift's spend was summed over: facts of another are not used.
    claim_starts_at = models.DateTimeField()
    claim_ends_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "campaign facts"

    def __str__(self) -> str:
        return f"facts of campaign {self.campaign_id} until {localtime(self.until):%Y-%m-%d %H:%M}"


class CampaignHourFact(models.Model):
    """What one hour of the operator's clock added to a campaign's measures, in the
    channel of a grant or message (channel rows) or the campaign's own (channel NULL:
    audience, burn, lift).

    Counts are gross: every redemption and coupon issued counts in its hour, and the reader
    takes back what was reversed or revoked by its moment from the rows themselves (few),
    so a reversal after the build is never missed. A build writes a row per kind of fact;
    readers sum by (campaign, channel, hour)."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(
        "crm.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # The start of an hour in the operator's time zone (whole in any offset, so each fact
    # falls in one operator day).
    hour = models.DateTimeField()
    # The campaign's own: audience members who joined, and of them held out.
    audience = models.PositiveIntegerField(db_default=0)
    holdout = models.PositiveIntegerField(db_default=0)
    # Per channel: off-site messages sent and failed.
    delivered = models.PositiveIntegerField(db_default=0)
    delivery_failed = models.PositiveIntegerField(db_default=0)
    # Per channel: grants made and the coupons they issued.
    claimed = models.PositiveIntegerField(db_default=0)
    coupons_issued = models.PositiveIntegerField(db_default=0)
    # Per channel: redemptions made, their discounts and the order amounts they recorded.
    redeemed = models.PositiveIntegerField(db_default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=2, db_default=0)
    order_amounts = models.DecimalField(max_digits=18, decimal_places=2, db_default=0)
    # The campaign's own: coupons issued and their face value (the burn).
    burn_issued = models.PositiveIntegerField(db_default=0)
    burn_face_value = models.DecimalField(max_digits=18, decimal_places=2, db_default=0)
    # The campaign's own, for lift: the change of the sum and of the sum of squares of the
    # audience's per-customer paid GMV in the window, treated and held out.
    treated_spend = models.DecimalField(max_digits=24, decimal_places=2, db_default=0)
    treated_spend_squares = models.DecimalField(max_digits=40, decimal_places=4, db_default=0)
    holdout_spend = models.DecimalField(max_digits=24, decimal_places=2, db_default=0)
    holdout_spend_squares = models.DecimalField(max_digits=40, decimal_places=4, db_default=0)

    class Meta:
        indexes = [models.Index(fields=["campaign", "hour"], name="campaign_hour_fact_lookup")]

    def __str__(self) -> str:
        return f"campaign {self.campaign_id} at {localtime(self.hour):%Y-%m-%d %H:%M}"
