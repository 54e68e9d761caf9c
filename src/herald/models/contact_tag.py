from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base


class ContactTag(Base):
    """Tag membership. The primary key leads with tag_id so a segment walks the index, not the contacts."""

    __tablename__ = "contact_tags"

    tag_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
