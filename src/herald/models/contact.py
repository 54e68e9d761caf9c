from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime, utcnow
from herald.models.base import Base, CreatedMixin, IdMixin


class Contact(IdMixin, CreatedMixin, Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("org_id", "phone"),
        # A username-only user (docs/whatsapp.md, "Username users") is one contact per organization.
        UniqueConstraint("org_id", "wa_user_id"),
        CheckConstraint("phone IS NOT NULL OR wa_user_id IS NOT NULL", name="phone_or_user_id"),
        Index("ix_contacts_org_id_id", "org_id", "id"),
    )

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    # E.164; None for a contact known only by its WhatsApp user id (a username user).
    phone: Mapped[str | None] = mapped_column(String(20))
    phone_raw: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    # The business-scoped user id (BSUID) Meta names the user by, e.g. ``US.13491208655302741918``.
    wa_user_id: Mapped[str | None] = mapped_column(String(256))
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why, in a few words: the keyword the contact wrote, or Meta's user_preferences stop.
    opted_out_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
