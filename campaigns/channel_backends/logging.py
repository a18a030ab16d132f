"""The default backend: a log line per message, for the demo and development."""

import logging

from campaigns.channel_backends import ChannelBackend, OutgoingMessage

logger = logging.getLogger("opscrm.messages")


class LoggingBackend(ChannelBackend):
    def send(self, message: OutgoingMessage, record_failure) -> None:
        logger.info(
            "message %s via %s to customer %s for campaign %s: coupons %s",
            message.message_id,
            message.channel,
            message.customer,
            message.campaign,
            ", ".join(message.coupons) or "(none)",
        )
