from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base, IdMixin


class CampaignMessage(IdMixin, Base):
    """One row per (campaign, contact): the outbox, the delivery record and the report row at once."""

    __tablename__ = "campaign_messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_messages_claim", "campaign_id", "status", "next_attempt_at", "id"),
        # Partial: a message has no wamid until it is sent, and is leased only while `sending`, so
        # materialising an audience does not pay for entries nobody looks up.
        Index(
            "ix_campaign_messages_wamid", "wamid",
            sqlite_where=text("wamid IS NOT NULL"), postgresql_where=text("wamid IS NOT NULL"),
        ),
        Index(
            "ix_campaign_messages_lease", "lease_until",
            sqlite_where=text("status = 'sending'"), postgresql_where=text("status = 'sending'"),
        ),
    )

    campaign_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"))
    # No foreign key to contacts: its per-row check (and the row lock it takes on every contact) was
    # most of the cost of materialising an audience. Deleting a contact deletes its messages itself
    # (contacts.repository.delete_contact), reaching them through the (campaign_id, contact_id) key.
    contact_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_msg: Mapped[str | None] = mapped_column(String(500))
    error_code: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wamid: Mapped[str | None] = mapped_column(String(128))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
