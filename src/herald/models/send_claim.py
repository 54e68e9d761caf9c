from __future__ import annotations

from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from herald.models.base import Base, IdMixin


class SendClaim(IdMixin, Base):
    """One claim of campaign messages by a sender, while they are held (``dispatch/takeoff.py``).

    A claim's messages leave in id order; ``watermark`` is the highest id among them whose request
    may have left. After a crash the reaper makes its held messages up to the watermark ``unknown``
    and returns the rest to ``pending``. Deleted when the claim's outcomes are recorded (or reaped).
    Ids are never handed out twice (``AUTOINCREMENT`` on SQLite): a sender that outlived its lease
    must find its claim gone, never another's under the same id.
    """

    __tablename__ = "send_claims"
    __table_args__ = ({"sqlite_autoincrement": True},)

    watermark: Mapped[int] = mapped_column(BigInteger, default=0)
