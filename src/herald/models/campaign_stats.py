from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType
from herald.models.base import Base

# The counters of ``CampaignStats``: every targeted contact is in one of pending / sent / unknown /
# not_sent / holdout; received, read and replied are subsets of sent.
STAT_FIELDS = ("targeted", "pending", "sent", "received", "read", "replied", "unknown", "not_sent", "holdout")
# What the quality circuit breaker counts (herald.quality.breaker): sends WhatsApp answered for good
# (accepted, refused, or no answer), failures among them (refused, or failed later), block signals
# (131048, 131049) and contacts who opted out while engaged in the campaign. Only ever added to.
QUALITY_FIELDS = ("quality_sends", "quality_failures", "quality_blocks", "quality_opt_outs")


class CampaignStats(Base):
    """Counters kept in the same transactions as the message transitions they count."""

    __tablename__ = "campaign_stats"

    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    targeted: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    read: Mapped[int] = mapped_column(BigInteger, default=0)
    replied: Mapped[int] = mapped_column(BigInteger, default=0)
    unknown: Mapped[int] = mapped_column(BigInteger, default=0)
    not_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    # The actual cost so far: the sum of its messages' ``price`` (herald.pricing.actual).
    cost: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    holdout: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    quality_sends: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    quality_failures: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    quality_blocks: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    quality_opt_outs: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # The quality counters at a few points of the campaign's sends, oldest first: its rolling window
    # starts at one of them (``breaker.window_of``); NULL until its first claim.
    quality_marks: Mapped[list[list[int]] | None] = mapped_column(JSONType)


class CampaignNotSentReason(Base):
    __tablename__ = "campaign_not_sent_reasons"

    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class CampaignSendMinute(Base):
    """Messages accepted by WhatsApp per minute, for the sends-over-time chart."""

    __tablename__ = "campaign_send_minutes"

    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
