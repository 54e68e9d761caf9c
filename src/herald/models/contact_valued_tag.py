from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base


class ContactValuedTag(Base):
    """A valued tag (key → value) of a contact, one row per key, indexed for segment queries."""

    __tablename__ = "contact_valued_tags"
    __table_args__ = (Index("ix_contact_valued_tags_org_key_value", "org_id", "key", "value", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(500))
