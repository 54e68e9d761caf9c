from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, IdMixin


class TemplateEvent(IdMixin, Base):
    """What Meta said about a template (status, quality, category), as applied: the template's history."""

    __tablename__ = "template_events"
    __table_args__ = (Index("ix_template_events_template_id_id", "template_id", "id"),)

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    template_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("templates.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(40))  # the webhook field, e.g. message_template_status_update
    event: Mapped[str] = mapped_column(String(64))  # PAUSED, GREEN → YELLOW, UTILITY → MARKETING…
    status: Mapped[str | None] = mapped_column(String(32))  # the template's status after it
    category: Mapped[str | None] = mapped_column(String(32))
    quality_score: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))  # Meta's reason and other_info, as text
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # the change's value as sent
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())  # entry.time, else when received
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
