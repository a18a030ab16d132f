"""Channel backends: how a message leaves OpsCRM, pluggable like Django's e-mail backends.

settings.CHANNEL_BACKENDS maps a channel code to {"BACKEND": dotted class path, options...};
"default" serves every other channel. A backend's send() returns when the gateway accepted
the message and raises DeliveryError when it did not, after its own retries; it calls
`record_failure(error)` for every failed attempt so each one is kept on the message.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class OutgoingMessage:
    """What a gateway needs: ids and codes, never a phone number or an e-mail address
    (the gateway resolves the customer_id; SPEC §9)."""

    message_id: int
    campaign: str
    customer: str
    channel: str
    coupons: tuple[str, ...]


class DeliveryError(Exception):
    """The gateway did not take the message (the last attempt's error)."""


class ChannelBackend:
    def __init__(self, **options):
        self.options = options

    def send(self, message: OutgoingMessage, record_failure: Callable[[str], None]) -> None:
        raise NotImplementedError


def backend_for(channel_code: str) -> ChannelBackend:
    """A backend for the channel, as settings.CHANNEL_BACKENDS configures it now (a sender
    makes one per chunk, so a webhook session serves the chunk's messages)."""
    configured = settings.CHANNEL_BACKENDS
    entry = dict(configured.get(channel_code) or configured["default"])
    backend_class = import_string(entry.pop("BACKEND"))
    return backend_class(**{name.lower(): value for name, value in entry.items()})
