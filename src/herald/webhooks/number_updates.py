"""Applying Meta's number webhooks: quality and messaging limit, and the account's own events.

A number whose quality rating drops to RED pauses its active campaigns whose quality breaker says so
(``quality_effects.py``), in the same transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.types import utcnow
from herald.numbers import meta_events
from herald.quality.breaker import RED
from herald.webhooks import events as ev
from herald.webhooks import quality_effects, waba_events
from herald.webhooks.events import StoredEvent, mark


async def apply_number_updates(session: AsyncSession, rows: list[StoredEvent]) -> None:
    now = utcnow()
    for row, org_id, update in waba_events.in_meta_order(rows):
        if row.kind == ev.NUMBER_QUALITY:
            named = await meta_events.apply_quality(session, org_id=org_id, update=update, received_at=now)
            for number, was in named:
                if number.quality_rating == RED and was != RED:
                    await quality_effects.number_turned_red(session, number)
            changed = len(named)
        else:
            changed = await meta_events.apply_account(session, org_id=org_id, update=update, received_at=now)
        mark(row, "applied" if changed else "unknown_number")
