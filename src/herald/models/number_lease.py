from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base


class NumberLease(Base):
    """Which worker paces a WhatsApp number; renewed while alive, taken over once expired."""

    __tablename__ = "number_leases"

    whatsapp_number_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(100))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
