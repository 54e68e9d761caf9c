"""Keyset pagination on an ascending integer id: ``?limit=&cursor=`` → ``{items, next_cursor}``."""

from __future__ import annotations

import base64
from typing import Generic, TypeVar

from pydantic import BaseModel

from herald.kit.errors import Invalid
from herald.kit.types import parse_id

T = TypeVar("T")

MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 32  # an encoded id of 19 digits is 26 characters


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    last_id = None
    if len(cursor) <= MAX_CURSOR_LENGTH:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            last_id = parse_id(base64.urlsafe_b64decode(padded.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            pass
    if last_id is None:
        raise Invalid("cursor is not one this API returned", field="cursor")
    return last_id


def clamp_limit(limit: int) -> int:
    if limit < 1 or limit > MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit
