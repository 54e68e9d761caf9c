from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime, utcnow
from herald.models.base import Base


class Engagement(Base):
    """A contact engaged in an active campaign. The primary key is the contact: one campaign at a time."""

    __tablename__ = "engagements"

    # No foreign keys: their per-row checks were most of the cost of materialising an audience.
    # Deleting a contact deletes its engagement itself (contacts.repository.delete_contact); a
    # campaign has engagements only while active or paused (ending releases them, in the same
    # transaction), and only a campaign in neither state can be deleted.
    contact_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(BigInteger, index=True)
    engaged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
