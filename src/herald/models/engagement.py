from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime, utcnow
from herald.models.base import Base


class Engagement(Base):
    """A contact engaged in an active campaign. The primary key is the contact: one campaign at a time."""

    __tablename__ = "engagements"

    contact_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    engaged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
