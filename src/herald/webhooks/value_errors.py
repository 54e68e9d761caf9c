"""Applying ``errors[]`` Meta reports for a number with no message or status (Cloud API "Errors
messages webhooks reference"): kept on the number, the newest ``KEEP``, shown on the Numbers page."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.replies import repository
from herald.webhooks import events as ev
from herald.webhooks.events import StoredEvent, mark
from herald.whatsapp import ValueErrors

KEEP = 10


def _entries(item: ValueErrors) -> list[dict[str, Any]]:
    return [{"at": item.timestamp.isoformat(), "code": e.code, "title": e.title, "message": e.message,
             "details": e.details, "href": e.href} for e in item.errors]


async def apply_value_errors(session: AsyncSession, rows: list[StoredEvent]) -> None:
    items = [(row, ev.value_errors_from(row.payload)) for row in rows]
    numbers = await repository.numbers_by_phone_number_id(session, {v.phone_number_id for _, v in items})
    for row, item in sorted(items, key=lambda p: (p[1].timestamp, p[0].id)):
        number = numbers.get(item.phone_number_id)
        if number is None:
            mark(row, "unknown_number")
            continue
        number.webhook_errors = (_entries(item) + list(number.webhook_errors or []))[:KEEP]
        mark(row, "recorded")
    await session.flush()
