from __future__ import annotations

from sqlalchemy import String
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
