"""Choices of the customer-data domain; each value is the string the API and CSVs use."""

from django.db import models


class Gender(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "", "Unknown"


class OrderStatus(models.TextChoices):
    PAID = "paid", "Paid"
    REFUNDED = "refunded", "Refunded"
    CANCELLED = "cancelled", "Cancelled"


class EventKind(models.TextChoices):
    VISIT = "visit", "Visit"
    LOGIN = "login", "Login"
    FAVORITE = "favorite", "Favorite"
    ADD_TO_CART = "add_to_cart", "Add to cart"
    STORE_VISIT = "store_visit", "Store visit"
    SHARE = "share", "Share"
    REVIEW = "review", "Review"
    COMPLAINT = "complaint", "Complaint"
    RETURN_REQUEST = "return_request", "Return request"


class ChannelKind(models.TextChoices):
    ON_SITE = "on_site", "On site"
    OFF_SITE = "off_site", "Off site"
    PARTNER = "partner", "Partner"


class LifecycleStage(models.TextChoices):
    """SPEC §1 lifecycle stages, in the order the rules are tried."""

    POTENTIAL = "potential", "Potential"
    CHURNED = "churned", "Churned"
    SILENT = "silent", "Silent"
    NEW = "new", "New"
    MATURE = "mature", "Mature"
    DECLINING = "declining", "Declining"
    GROWING = "growing", "Growing"


class ValueTier(models.TextChoices):
    HIGH = "high", "High value"
    MEDIUM = "medium", "Medium value"
    LOW = "low", "Low value"
    NONE = "none", "No purchase"


class RfmGroup(models.TextChoices):
    """The usual named RFM groups, assigned from the recency and frequency scores."""

    CHAMPIONS = "champions", "Champions"
    LOYAL = "loyal", "Loyal"
    POTENTIAL_LOYALIST = "potential_loyalist", "Potential loyalist"
    NEW_CUSTOMERS = "new_customers", "New customers"
    PROMISING = "promising", "Promising"
    NEED_ATTENTION = "need_attention", "Need attention"
    ABOUT_TO_SLEEP = "about_to_sleep", "About to sleep"
    AT_RISK = "at_risk", "At risk"
    CANT_LOSE = "cant_lose", "Can't lose them"
    HIBERNATING = "hibernating", "Hibernating"


class Daypart(models.TextChoices):
    MORNING = "morning", "Morning (05-11)"
    AFTERNOON = "afternoon", "Afternoon (12-17)"
    EVENING = "evening", "Evening (18-22)"
    NIGHT = "night", "Night (23-04)"


class ImportKind(models.TextChoices):
    """What one CSV file (or one bulk API request) holds."""

    CUSTOMERS = "customers", "Customers"
    ORDERS = "orders", "Orders"
    ORDER_ITEMS = "order_items", "Order items"
    EVENTS = "events", "Behaviour events"
    REFERRALS = "referrals", "Referrals"


class ImportRefusalReason(models.TextChoices):
    """Why a whole file is refused before any of its rows is stored."""

    UNREADABLE_FILE = "unreadable_file", "The file cannot be read as UTF-8 CSV"
    BAD_HEADER = "bad_header", "The header row does not fit the kind of import"


class PointsReason(models.TextChoices):
    """Why a customer's points balance changed (crm.PointsEntry)."""

    OPENING_BALANCE = "opening_balance", "Balance held when the ledger began"
    IMPORT = "import", "Loaded with the customer's record"
    COUPON_REDEEMED = "coupon_redeemed", "A points coupon redeemed"
    REDEMPTION_REVERSED = "redemption_reversed", "A points coupon's order refunded"
    ADJUSTMENT = "adjustment", "Adjusted by staff"
    # A change no service labelled (a direct SQL update): the ledger still records it.
    UNRECORDED = "unrecorded", "Changed without a recorded reason"
