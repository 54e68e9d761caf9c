from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, IdMixin


class AuditEvent(IdMixin, Base):
    """Who did what an operator may be asked about later (e.g. sending possibly-sent messages again)."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_campaign", "campaign_id", "at"),)

    org_id: Mapped[int] = mapped_column(BigInteger)
    # Who did it: a signed-in user, or an API key (no foreign keys: the record outlives them).
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    api_key_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
