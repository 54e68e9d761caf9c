from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base, CreatedMixin, IdMixin


class User(IdMixin, CreatedMixin, Base):
    """Someone who signs in to the web UI. An inactive user cannot sign in and has no sessions."""

    __tablename__ = "users"

    org_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
