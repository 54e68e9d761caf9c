from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import UTCDateTime
from herald.models.base import Base


class PortfolioReach(Base):
    """A contact a business portfolio messaged (or is messaging) outside a conversation, and when last:
    Meta's messaging limit counts the unique users of the last 24 hours (dispatch/messaging_limit.py).

    One row per (portfolio, contact); rows older than 24 hours are deleted as the portfolio is counted.
    """

    __tablename__ = "portfolio_reaches"
    __table_args__ = (Index("ix_portfolio_reaches_portfolio_reached_at", "portfolio", "reached_at"),)

    # ``<org id>:<business portfolio id>``, or ``<org id>:waba:<WABA id>`` (numbers/messaging_limit.py).
    portfolio: Mapped[str] = mapped_column(String(100), primary_key=True)
    contact_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime())
