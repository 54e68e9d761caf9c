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
    items = []
    for row in rows:
        try:
            items.append((row, waba_events.org_of(row.payload), waba_events.event_from(row.kind, row.payload)))
        except (TypeError, ValueError, KeyError):  # stored by another version of Herald: never blocks a round
            mark(row, "unreadable")
    items.sort(key=lambda item: (item[2].timestamp or _EARLIEST, item[0].id))
    now = utcnow()
    for row, org_id, update in items:
        if row.kind == ev.NUMBER_QUALITY:
            changed = await meta_events.apply_quality(session, org_id=org_id, update=update, received_at=now)
        else:
            changed = await meta_events.apply_account(session, org_id=org_id, update=update, received_at=now)
        mark(row, "applied" if changed else "unknown_number")
