from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base, CreatedMixin, IdMixin


class EventOutbox(IdMixin, CreatedMixin, Base):
    """One event for one endpoint: appended in the transaction of the change it reports, then
    POSTed in batches by the deliverer (``herald.events.delivery``). Its row is its delivery log:
    status, attempts, last error and HTTP code, never what the endpoint answered."""

    __tablename__ = "event_outbox"
    # The one index besides the key: claiming and pruning both walk an endpoint's rows of one status
    # in id order (ids grow with time); each index more is paid by every event appended and delivered.
    __table_args__ = (Index("ix_event_outbox_endpoint", "endpoint_id", "status", "id"),)

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("event_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the event's JSON, as sent
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
