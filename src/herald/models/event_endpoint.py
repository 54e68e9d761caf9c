from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType, UTCDateTime
from herald.models.base import Base, CreatedMixin, IdMixin


class EventEndpoint(IdMixin, CreatedMixin, Base):
    """A URL of the organization's that receives signed batches of the events it subscribed to.

    Deleting one only marks it (``deleted_at``): the engine caches who subscribes for a few seconds
    and appends events in the transactions of the changes they report, which must never fail on a
    row that vanished meanwhile."""

    __tablename__ = "event_endpoints"

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    secret_enc: Mapped[str] = mapped_column(String(1000))
    event_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(String(200), default="")
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Per-endpoint back-off: consecutive failed POSTs, and when the next one may go.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Held by the deliverer POSTing to it: one POST in flight per endpoint, across workers.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
