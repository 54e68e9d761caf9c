from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.kit.types import JSONType
from herald.models.base import Base, CreatedMixin, IdMixin


class Organization(IdMixin, CreatedMixin, Base):
    __tablename__ = "organizations"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Whole-message replies that opt a contact out of (or back into) marketing; NULL: Herald's
    # defaults (herald.replies.keywords).
    opt_out_keywords: Mapped[list[str] | None] = mapped_column(JSONType)
    opt_in_keywords: Mapped[list[str] | None] = mapped_column(JSONType)
    # At most ``frequency_cap_messages`` marketing messages per contact in any ``frequency_cap_days``
    # days, across campaigns (herald.campaigns.frequency_cap); both NULL: no cap.
    frequency_cap_messages: Mapped[int | None] = mapped_column(Integer)
    frequency_cap_days: Mapped[int | None] = mapped_column(Integer)
    # The organization's own rate card (an admin's upload, ``herald.pricing.card.RateCard.as_json``);
    # NULL: Herald's shipped card. ``rate_overrides``: market → category → price over either;
    # ``currency``: the currency prices and budgets are in (NULL: the card's).
    rate_card: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    rate_overrides: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    currency: Mapped[str | None] = mapped_column(String(3))
