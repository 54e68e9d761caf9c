from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime, utcnow
from herald.models.base import Base, CreatedMixin, IdMixin


class Contact(IdMixin, CreatedMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("org_id", "phone"),
        Index("ix_contacts_org_id_id", "org_id", "id"),
    )

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))
    phone_raw: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    wa_user_id: Mapped[str | None] = mapped_column(String(256), index=True)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why, in a few words: the keyword the contact wrote, or Meta's user_preferences stop.
    opted_out_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
