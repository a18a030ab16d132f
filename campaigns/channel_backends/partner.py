"""A partner's platform that issues the codes of its coupons (cross-industry cooperation,
e.g. a barbecue restaurant's coupons given to a snack shop's customers).

settings.PARTNER_PLATFORMS maps a partner channel code to {"URL", "TIMEOUT", "RETRIES",
"BACKOFF", "BACKOFF_MAX"}. One request per coupon: POST {"request_id", "campaign",
"template", "customer", "valid_until"} answered by {"code": "..."}. `request_id` is our
coupon's own reference, the same on every attempt, so a platform that issued a code for a
request whose answer was lost gives the same code again rather than a second one."""

import time
from dataclasses import asdict, dataclass

import requests
from django.conf import settings

from campaigns.channel_backends import DeliveryError


@dataclass(frozen=True)
class CodeRequest:
    request_id: str
    campaign: str
    template: str
    customer: str
    valid_until: str


class PartnerPlatform:
    def __init__(self, *, url, timeout=2.0, retries=1, backoff=0.2, backoff_max=1.0, **_):
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.session = requests.Session()

    def issue_code(self, request: CodeRequest) -> str:
        """The partner's code for `request`, or DeliveryError after the bounded retries."""
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), self.backoff_max))
            try:
                answer = self.session.post(self.url, json=asdict(request), timeout=self.timeout)
            except requests.Timeout:
                error = f"timed out after {self.timeout:g} s"
                continue
            except requests.RequestException as problem:
                error = f"{type(problem).__name__}: {problem}"[:300]
                continue
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
                continue
            try:
                code = answer.json()["code"]
            except (ValueError, KeyError, TypeError):
                error = "the answer holds no code"
                continue
            if isinstance(code, str) and 0 < len(code.strip()) <= 64:
                return code.strip()
            error = "the answer's code is not text of 1 to 64 characters"
        raise DeliveryError(error)


def platform_for(channel_code: str) -> PartnerPlatform:
    """The platform of partner channel `channel_code`; DeliveryError when none is set."""
    entry = settings.PARTNER_PLATFORMS.get(channel_code)
    if not entry:
        raise DeliveryError(f"no platform is configured for partner {channel_code}")
    return PartnerPlatform(**{name.lower(): value for name, value in entry.items()})
