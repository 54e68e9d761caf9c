from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base, CreatedMixin, IdMixin


class EventOutbox(IdMixin, CreatedMixin, Base):
    """A batch of events for one endpoint: the events of one recording round (BATCH_MAX_EVENTS at
    most, ``herald.events.claim``), appended in the transaction of the changes they report, then
    POSTed by the deliverer (``herald.events.delivery``), several small rows in one POST. Its row
    is its delivery log: status, attempts, last error and HTTP code, never what the endpoint answered."""

    __tablename__ = "event_outbox"
    # The one index besides the key: claiming and pruning both walk an endpoint's rows of one status
    # in id order (ids grow with time); each index more is paid by every batch appended and delivered.
    # ``event_count`` in it: a claim sizes its POST from the index, without reading the payloads.
    __table_args__ = (Index("ix_event_outbox_endpoint", "endpoint_id", "status", "id", "event_count"),)

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("event_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))  # the batch's first event
    last_event_id: Mapped[str] = mapped_column(String(40))
    event_count: Mapped[int] = mapped_column(Integer)
    event_types: Mapped[str] = mapped_column(Text)  # distinct, comma-separated, in the order first seen
    # The events' JSON envelopes as sent, comma-separated: a POST's body is ``[``, its rows' payloads
    # joined with ``,``, and ``]``, built without parsing them again.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
