from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, IdMixin


class ContactEvent(IdMixin, Base):
    """Something that happened to a contact that is not a message: a number change, a merge to do,
    an identity change, an opt-out or opt-in and why (``herald.contacts.history``)."""

    __tablename__ = "contact_events"
    __table_args__ = (Index("ix_contact_events_contact_at", "contact_id", "at"),)

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
