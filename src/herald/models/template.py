from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime, utcnow
from herald.models.base import Base, IdMixin


class Template(IdMixin, Base):
    """A message template synced from a WABA; kept (with the reason) even when unusable."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("org_id", "waba_id", "name", "language"),)

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    waba_id: Mapped[str] = mapped_column(String(64))
    meta_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    parameter_format: Mapped[str] = mapped_column(String(16), default="POSITIONAL")
    components: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    variables: Mapped[list[str]] = mapped_column(JSONType, default=list)
    header_format: Mapped[str | None] = mapped_column(String(16))
    quick_reply_count: Mapped[int] = mapped_column(BigInteger, default=0)
    usable: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(String(300))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # From Meta's webhooks (template_events keeps the history): GREEN, YELLOW, RED or UNKNOWN.
    quality_score: Mapped[str | None] = mapped_column(String(16))
    status_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
