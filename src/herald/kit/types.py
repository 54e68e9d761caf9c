"""Column types shared by every model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")


MAX_ID = 2**63 - 1  # BIGINT


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_id(text: object) -> int | None:
    """A row id given as text (a form field, a cursor): ASCII digits within BIGINT, else None.

    ``str.isdigit`` is not enough before ``int()``: "²" is a digit to it and not a number to int()."""
    raw = str(text or "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


def as_utc(value: datetime) -> datetime | None:
    """``value`` in UTC, or None when that falls outside the years a datetime holds (1 to 9999):
    0001-01-01T00:00:00+14:00 is a valid time whose UTC form is not."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database returns.

    SQLite has no timezone-aware type and hands back naive datetimes; we store UTC and re-attach it.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
