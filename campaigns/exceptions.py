"""Business refusals of campaigns: data with a reason, mapped to 409 by crm.core.api."""

from crm.core.api import DomainRefusal


class ClaimRefused(DomainRefusal):
    """A claim the engine refuses; `reason` is a ClaimRefusalReason value."""


class IdempotencyKeyReused(DomainRefusal):
    """The idempotency key was used before with a different payload."""

    def __init__(self, detail: str) -> None:
        super().__init__("idempotency_key_reused", detail)


class RedemptionRefused(DomainRefusal):
    """A redemption refused; `reason` is a RedemptionRefusalReason value."""


class CampaignActionRefused(DomainRefusal):
    """A status change refused; `reasons` lists every problem found (launch validation)."""

    def __init__(self, reason: str, reasons: list[str]) -> None:
        super().__init__(reason, "; ".join(reasons))
        self.reasons = reasons


class UnknownClaimTargetError(Exception):
    """A claim names a campaign, customer or channel that does not exist (the API's 400)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


class ClaimEngineUnavailable(DomainRefusal):
    """Claims are decided inside PostgreSQL; the embedded SQLite demo database cannot."""

    def __init__(self) -> None:
        super().__init__(
            "engine_unavailable",
            "claims are decided by the claim engine inside PostgreSQL; this site runs on "
            "SQLite. Set DATABASE_URL to a PostgreSQL database (see README, Configuration).",
        )
