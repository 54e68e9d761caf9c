"""Which endpoint a campaign's messages take: Meta's Marketing Messages API, or ``/messages``.

A number with ``marketing_messages_api`` on sends its MARKETING templates to
``POST /{phone_number_id}/marketing_messages``; every other template (utility, authentication, one
not synced yet) keeps ``/messages``, which the Marketing Messages API refuses (131055). Decided once
per campaign (and per A/B variant with a template of its own) from what the sender re-reads every
refresh: no query per message. docs/whatsapp.md, "Marketing Messages API", has the sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from herald.campaigns import marketing_retry
from herald.models import WhatsAppNumber

MARKETING = "MARKETING"


@dataclass(frozen=True, slots=True)
class MarketingMessages:
    """A number's Marketing Messages API settings, for the campaigns whose template is MARKETING."""

    activity_sharing: bool | None  # ``message_activity_sharing``; None: not sent
    ttl_seconds: int | None  # None: Meta's default

    def takes(self, category: str | None) -> bool:
        """Whether a template of ``category`` goes through the Marketing Messages API."""
        return (category or "").upper() == MARKETING

    def retry_days(self, campaign_days: float) -> float:
        """The campaign's deadline for retrying Meta's per-user marketing limit (131049), cut to the time
        to live: a marketing message is never tried again once it is no longer worth delivering."""
        return marketing_retry.deadline_days(campaign_days, self.ttl_seconds)


def of_number(number: WhatsAppNumber) -> MarketingMessages | None:
    """The number's settings when it uses the Marketing Messages API; None when it does not."""
    if not number.marketing_messages_api:
        return None
    return MarketingMessages(
        activity_sharing=number.marketing_messages_activity_sharing, ttl_seconds=number.marketing_messages_ttl_seconds
    )
