from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base, CreatedMixin, IdMixin


class BotFlow(IdMixin, CreatedMixin, Base):
    __tablename__ = "bot_flows"

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    webhook_url: Mapped[str] = mapped_column(String(1000))
    secret_enc: Mapped[str] = mapped_column(String(1000))
