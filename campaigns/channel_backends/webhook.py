"""A gateway reached by an HTTP POST of the message as JSON (SMS providers, WeChat and app
push relays). Options: URL, TIMEOUT (seconds per attempt), RETRIES (attempts after the
first), BACKOFF (seconds before the first retry, doubled each time) and BACKOFF_MAX (the cap
of one wait). A 2xx answer is success; any other status, a timeout or a refused connection
is a failed attempt, recorded on the message."""

import time
from dataclasses import asdict

import requests

from campaigns.channel_backends import ChannelBackend, DeliveryError, OutgoingMessage


class WebhookBackend(ChannelBackend):
    def __init__(self, *, url, timeout=5.0, retries=3, backoff=0.5, backoff_max=8.0, **options):
        super().__init__(**options)
        self.url = url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.session = requests.Session()

    def send(self, message: OutgoingMessage, record_failure) -> None:
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), self.backoff_max))
            try:
                answer = self.session.post(
                    self.url,
                    json={**asdict(message), "coupons": list(message.coupons)},
                    timeout=self.timeout,
                )
            except requests.Timeout:
                error = f"timed out after {self.timeout:g} s"
            except requests.RequestException as problem:
                error = f"{type(problem).__name__}: {problem}"[:300]
            else:
                if 200 <= answer.status_code < 300:
                    return
                error = f"HTTP {answer.status_code}"
            record_failure(error)
        raise DeliveryError(error)
