from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, IdMixin


class InboundMessage(IdMixin, Base):
    __tablename__ = "inbound_messages"
    __table_args__ = (
        Index("ix_inbound_messages_contact_at", "contact_id", "sent_at"),
        # The Replies pages: newest first, for the organization or for one campaign.
        Index("ix_inbound_messages_org_newest", "org_id", "id"),
        Index("ix_inbound_messages_campaign_newest", "campaign_id", "id"),
    )

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    whatsapp_number_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="SET NULL"))
    wamid: Mapped[str] = mapped_column(String(128), unique=True)
    from_wa_id: Mapped[str | None] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(24))
    text: Mapped[str | None] = mapped_column(Text)
    context_id: Mapped[str | None] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
