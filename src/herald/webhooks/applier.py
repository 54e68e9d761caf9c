"""Applies stored webhook events in rounds (one transaction each), in arrival order, claimed so
several workers can share."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.db import Database
from herald.kit.dialect import is_postgres
from herald.kit.types import UTCDateTime, utcnow
from herald.models import WebhookEvent
from herald.webhooks import events as ev
from herald.webhooks import inbound, number_updates, preferences, statuses, template_updates, value_errors
from herald.webhooks.events import StoredEvent, mark

log = logging.getLogger("herald.webhooks")
_events: Table = WebhookEvent.__table__  # type: ignore[assignment]

# A handler sets each event's outcome (``ev.mark``) or defers it (``ev.defer``).
Handler = Callable[[AsyncSession, list[StoredEvent]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {
    ev.STATUS: statuses.apply_statuses,
    ev.MESSAGE: inbound.apply_inbound,
    ev.PREFERENCE: preferences.apply_preferences,
    ev.TEMPLATE_STATUS: template_updates.apply_template_updates,
    ev.TEMPLATE_QUALITY: template_updates.apply_template_updates,
    ev.TEMPLATE_CATEGORY: template_updates.apply_template_updates,
    ev.NUMBER_QUALITY: number_updates.apply_number_updates,
    ev.ACCOUNT_UPDATE: number_updates.apply_number_updates,
    ev.VALUE_ERRORS: value_errors.apply_value_errors,
}
ROUND = 500  # events applied in one round at most
# The background loop sizes its transactions to about this long: the same process answers webhooks,
# and on SQLite a store waits for the write lock (and always, for the event loop) while one runs.
TRANSACTION_SECONDS = 0.02
MIN_CHUNK = 25


_DUE = (
    select(_events.c.id, _events.c.kind, _events.c.payload)
    .where(_events.c.applied_at.is_(None),
           or_(_events.c.not_before.is_(None), _events.c.not_before <= bindparam("now", type_=UTCDateTime())))
    .order_by(_events.c.id)
    .limit(bindparam("limit"))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True)


async def apply_round(database: Database, *, limit: int = ROUND) -> int:
    """Applies up to ``limit`` due events in one transaction; returns how many were looked at."""
    async with database.transaction() as session:
        stmt = _DUE_LOCKED if is_postgres(session) else _DUE
        params = {"now": utcnow(), "limit": limit}
        events = [StoredEvent(id=i, kind=k, payload=p) for i, k, p in (await session.execute(stmt, params))]
        by_kind: dict[str, list[StoredEvent]] = defaultdict(list)
        for event in events:
            by_kind[event.kind].append(event)
        for kind, items in by_kind.items():
            fn = HANDLERS.get(kind)
            if fn is None:
                for event in items:
                    mark(event, "ignored")
                continue
            await fn(session, items)
        await _record_outcomes(session, events)
        return len(events)


async def _record_outcomes(session: AsyncSession, events: list[StoredEvent]) -> None:
    t = UTCDateTime()
    applied = [{"_id": e.id, "_at": e.applied_at, "_outcome": e.outcome} for e in events if e.applied_at]
    deferred = [{"_id": e.id, "_nb": e.not_before} for e in events if e.applied_at is None and e.not_before]
    if applied:
        await session.execute(
            update(_events).where(_events.c.id == bindparam("_id"))
            .values(applied_at=bindparam("_at", type_=t), outcome=bindparam("_outcome")),
            applied,
        )
    if deferred:
        await session.execute(
            update(_events).where(_events.c.id == bindparam("_id")).values(not_before=bindparam("_nb", type_=t)),
            deferred,
        )


async def backlog(session: AsyncSession) -> int:
    from sqlalchemy import func

    return int((await session.execute(
        select(func.count()).select_from(WebhookEvent).where(WebhookEvent.applied_at.is_(None))
    )).scalar_one())


async def run_forever(database: Database, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
    """Applies events as they come.

    With ``wake`` the receiver runs in the same process (``herald serve`` with the embedded worker):
    it wakes us at once, and transactions are sized to about TRANSACTION_SECONDS, yielding to the
    loop between two, so an answer never waits behind a long apply. A worker of its own (no
    receiver to keep fast) applies rounds of ROUND events, which is what its throughput needs.
    """
    chunk = 100 if wake is not None else ROUND
    while not stop.is_set():
        started = time.perf_counter()
        try:
            n = await apply_round(database, limit=chunk)
        except Exception:  # keep applying after a database hiccup
            log.exception("applying webhook events failed")
            n = 0
        if n >= chunk:
            if wake is not None:
                elapsed = time.perf_counter() - started
                factor = min(2.0, max(0.5, TRANSACTION_SECONDS / max(elapsed, 1e-4)))
                chunk = max(MIN_CHUNK, min(ROUND, int(chunk * factor)))
                await asyncio.sleep(0)  # answers waiting for the loop (or the write lock) go first
            continue
        waiter = wake or asyncio.Event()
        try:
            await asyncio.wait_for(waiter.wait(), timeout=0.25)
        except TimeoutError:
            pass
        waiter.clear()
        if stop.is_set():
            return
