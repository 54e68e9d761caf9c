from __future__ import annotations

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base

# The counters of ``CampaignStats``: every targeted contact is in one of pending / sent / unknown /
# not_sent / holdout; received, read and replied are subsets of sent.
STAT_FIELDS = ("targeted", "pending", "sent", "received", "read", "replied", "unknown", "not_sent", "holdout")


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
