"""Domain exceptions of campaigns: business refusals (data with a reason, mapped to 409 by
crm.core.api) and the unknown claim target (a code that names nothing, the API's 400)."""

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


class PartnerCodeUnavailable(DomainRefusal):
    """A claim of a partner's coupon whose code the partner's platform did not issue in
    time: nothing stays granted (or the code is still on its way); the caller may retry with
    the same key. The API answers 503."""

    http_status = 503

    def __init__(self, detail: str) -> None:
        super().__init__("partner_unavailable", detail)


class UnknownClaimTargetError(Exception):
    """A claim names a campaign, customer or channel that does not exist (the API's 400)."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


class ShareClaimRejectedError(Exception):
    """A share page claim that cannot reach the engine: no such envelope, or no single
    member with the phone number given (`field` names the input at fault)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
