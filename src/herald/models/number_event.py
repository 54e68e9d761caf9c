from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, IdMixin


class NumberEvent(IdMixin, Base):
    """What Meta said about a number or its account (quality, messaging limit, account_update): its history."""

    __tablename__ = "number_events"
    __table_args__ = (Index("ix_number_events_whatsapp_number_id_id", "whatsapp_number_id", "id"),)

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    whatsapp_number_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("whatsapp_numbers.id", ondelete="CASCADE")
    )
    field: Mapped[str] = mapped_column(String(40))  # phone_number_quality_update or account_update
    event: Mapped[str] = mapped_column(String(64))  # FLAGGED, UPGRADE, ACCOUNT_RESTRICTION…
    messaging_limit_tier: Mapped[str | None] = mapped_column(String(32))  # the number's tier after it
    quality_rating: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
