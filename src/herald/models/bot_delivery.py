from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base, CreatedMixin, IdMixin


class BotDelivery(IdMixin, CreatedMixin, Base):
    """A reply to forward to a bot flow; retried with back-off, in order per contact."""

    __tablename__ = "bot_deliveries"
    __table_args__ = (
        Index("ix_bot_deliveries_due", "status", "next_attempt_at", "id"),
        Index("ix_bot_deliveries_contact", "contact_id", "status", "id"),
    )

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    bot_flow_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("bot_flows.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"))
    # The inbound message forwarded (None for deliveries made before the link existed), so the
    # Replies pages show each message's delivery.
    inbound_message_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("inbound_messages.id", ondelete="SET NULL"), index=True
    )
    delivery_id: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
