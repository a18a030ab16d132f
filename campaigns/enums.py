"""Choices of campaigns and coupons; each value is the string the API uses."""

from django.db import models


class CouponKind(models.TextChoices):
    CASH = "cash", "Red envelope / money off"
    PERCENT = "percent", "Percent discount"
    GIFT = "gift", "Free gift"
    POINTS = "points", "Points"


class CostBearer(models.TextChoices):
    PLATFORM = "platform", "Platform"
    MERCHANT = "merchant", "Merchant"
    PARTNER = "partner", "Partner"


class CampaignType(models.TextChoices):
    TARGETED = "targeted", "Targeted delivery"
    MEMBER_INCENTIVE = "member_incentive", "Member incentive"
    SPECIAL = "special", "Special"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"
    CANCELLED = "cancelled", "Cancelled"


class Trigger(models.TextChoices):
    SCHEDULED_PUSH = "scheduled_push", "Scheduled push"
    LOGIN = "login", "Login"
    HOMEPAGE = "homepage", "Homepage visit"
    CHECKOUT = "checkout", "Checkout"
    ORDER_PAID = "order_paid", "Order paid"
    SHARE = "share", "Share"
    SELF = "self", "Customer clicks claim"
    BIRTHDAY = "birthday", "Birthday (granted by OpsCRM)"
    FIRST_ORDER = "first_order", "First paid order (granted by OpsCRM)"
    REFERRAL = "referral", "Referral, both sides (granted by OpsCRM)"


# Triggers OpsCRM fires itself (SPEC §4 playbooks): the claims API refuses them, so a
# birthday gift cannot be claimed on any other day or twice a year.
AUTOMATIC_TRIGGERS = frozenset({Trigger.BIRTHDAY, Trigger.FIRST_ORDER, Trigger.REFERRAL})
# The triggers a claim may come with.
CLAIM_TRIGGERS = [
    (value, label) for value, label in Trigger.choices if value not in AUTOMATIC_TRIGGERS
]


class CouponStatus(models.TextChoices):
    UNUSED = "unused", "Unused"
    REDEEMED = "redeemed", "Redeemed"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"
    # A partner's coupon waiting for the code its platform issues: the customer does not
    # see it until then, and it is cancelled (its grant given back) if the code never comes.
    PENDING = "pending", "Waiting for the partner's code"


class CouponEventKind(models.TextChoices):
    GRANT = "grant", "Granted"
    REFUSAL = "refusal", "Refused"
    REDEMPTION = "redemption", "Redeemed"
    RESTORE = "restore", "Restored after refund"
    EXPIRY = "expiry", "Expired"
    REVOKE = "revoke", "Revoked"


class ClaimRefusalReason(models.TextChoices):
    """SPEC §5 claim refusals, in the order the engine checks them (SPEC §4)."""

    NOT_RUNNING = "not_running", "The campaign is not running"
    OUTSIDE_WINDOW = "outside_window", "Outside the claim window"
    OUT_OF_SCOPE = "out_of_scope", "The customer's city is not in the campaign's scope"
    CHANNEL_NOT_IN_CAMPAIGN = (
        "channel_not_in_campaign",
        "The claim's channel is not one of the campaign's",
    )
    TRIGGER_NOT_IN_CAMPAIGN = "trigger_not_in_campaign", "The claim's trigger is not the campaign's"
    NOT_IN_AUDIENCE = "not_in_audience", "The customer is not in the audience"
    HOLDOUT = "holdout", "The customer is in the holdout group"
    DAILY_LIMIT = "daily_limit", "Daily limit per customer reached"
    CAMPAIGN_LIMIT = "campaign_limit", "Limit per customer for the campaign reached"
    OUT_OF_STOCK = "out_of_stock", "Out of stock"
    BUDGET_EXHAUSTED = "budget_exhausted", "Budget exhausted"
    HARASSMENT_CAP = "harassment_cap", "The customer holds too many unused coupons"
    HARASSMENT_INTERVAL = "harassment_interval", "The same coupon was granted too recently"


class RedemptionRefusalReason(models.TextChoices):
    UNKNOWN_CODE = "unknown_code", "Unknown coupon code"
    WRONG_CUSTOMER = "wrong_customer", "The coupon belongs to another customer"
    ALREADY_REDEEMED = "already_redeemed", "The coupon was already redeemed"
    EXPIRED = "expired", "The coupon has expired"
    NOT_YET_VALID = "not_yet_valid", "The coupon is not valid yet"
    THRESHOLD_NOT_MET = "threshold_not_met", "The order does not reach the threshold"
    RESTRICTION_MISMATCH = "restriction_mismatch", "The order does not match the restrictions"


class DeliveryState(models.TextChoices):
    """A push run's state (SPEC §5 deliveries)."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class BatchState(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # Not sent and never will be: no consent, or the channel's daily cap reached.
    SUPPRESSED = "suppressed", "Suppressed"
    # Due inside the channel's quiet hours: sent when they end.
    DEFERRED = "deferred", "Deferred"


class MessageReason(models.TextChoices):
    """Why a message was suppressed or deferred (blank when it was not)."""

    NONE = "", "—"
    NO_CONSENT = "no_consent", "No consent for the channel"
    DAILY_CAP = "daily_cap", "The channel's daily cap for the customer reached"
    QUIET_HOURS = "quiet_hours", "Inside the channel's quiet hours"
    GRANT_CANCELLED = "grant_cancelled", "The grant was cancelled (no partner code came)"


class EnvelopeKind(models.TextChoices):
    """How a red-envelope campaign sets the amount of each grant (SPEC §4 special)."""

    NONE = "", "Fixed coupons (the templates' face values)"
    # A share link: the same customer's 1st claim gets the full amount, the 2nd amount x
    # decay_ratio, the 3rd and later decay_floor.
    SHARED = "shared", "Shared red envelope (repeated claims decay)"
    # "Falls from the sky" on login or the homepage: an amount drawn per grant.
    RANDOM = "random", "Random-amount red envelope"


class AmountDistribution(models.TextChoices):
    NONE = "", "—"
    UNIFORM = "uniform", "Uniform: every amount in the range as likely"
    MOSTLY_LOW = "mostly_low", "Mostly low: small amounts often, large ones rarely"
