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
