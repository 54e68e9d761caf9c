"""Applying Meta's number webhooks: quality and messaging limit, and the account's own events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.types import utcnow
from herald.numbers import meta_events
from herald.webhooks import events as ev
from herald.webhooks import waba_events
from herald.webhooks.events import StoredEvent, mark

_EARLIEST = datetime.min.replace(tzinfo=UTC)


async def apply_number_updates(session: AsyncSession, rows: list[StoredEvent]) -> None:
    items = [(row, waba_events.event_from(row.kind, row.payload)) for row in rows]
    items.sort(key=lambda pair: (pair[1].timestamp or _EARLIEST, pair[0].id))
    now = utcnow()
    for row, update in items:
        org_id = waba_events.org_of(row.payload)
        if row.kind == ev.NUMBER_QUALITY:
            changed = await meta_events.apply_quality(session, org_id=org_id, update=update, received_at=now)
        else:
            changed = await meta_events.apply_account(session, org_id=org_id, update=update, received_at=now)
        mark(row, "applied" if changed else "unknown_number")
