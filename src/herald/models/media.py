from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base, CreatedMixin, IdMixin


class Media(IdMixin, CreatedMixin, Base):
    """Header media uploaded to a number. The bytes are kept to re-upload once Meta's id expires."""

    __tablename__ = "media"

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    whatsapp_number_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("whatsapp_numbers.id", ondelete="CASCADE"), index=True
    )
    media_id: Mapped[str] = mapped_column(String(128))
    mime_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
