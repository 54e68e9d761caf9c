from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base


class AudienceSnapshot(Base):
    """A follow-up campaign's frozen audience: the parent's contacts that had the chosen outcome when
    the follow-up was created (herald.campaigns.followups). The primary key leads with campaign_id so
    materialisation walks one campaign's contacts in id order; a deleted contact drops out (cascade)."""

    __tablename__ = "campaign_audience_snapshots"

    campaign_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
