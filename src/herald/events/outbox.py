"""Appending events to the outbox, in the transaction of the change they report.

An event is written only for the endpoints subscribed to its type. A call's events for one
endpoint go in one row, a batch (BATCH_MAX_EVENTS events at most, more rows past that), with one
bulk insert per call: at thousands of events a second, a row per event was most of an event's
cost. Who subscribes is read once every few seconds per database and kept in memory, so an
organization without endpoints costs a dictionary lookup and no statement at all: the sender's
batches and the webhook applier call this on their hot path. An endpoint created or changed in
another process is therefore seen within ``SUBSCRIPTIONS_TTL``; a deleted one is only marked
deleted (``EventEndpoint``), so a row appended from a stale cache never breaks the transaction it
rides in, and the deliverer drops it.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.events.claim import BATCH_MAX_EVENTS
from herald.events.types import TEST_EVENT
from herald.kit.types import utcnow
from herald.models import Campaign, EventEndpoint, EventOutbox

SUBSCRIPTIONS_TTL = 5.0  # seconds
_outbox: Table = EventOutbox.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class NewEvent:
    org_id: int
    type: str
    data: dict[str, Any]
    at: datetime | None = None  # when it happened; now when None


@dataclass(frozen=True, slots=True)
class CampaignEvent:
    """An event about a campaign or one of its messages; its organization is looked up (and kept)."""

    campaign_id: int
    type: str
    data: dict[str, Any]
    at: datetime | None = None


@dataclass(slots=True)
class _Known:
    loaded_at: float = float("-inf")
    # org id → event type → endpoint ids
    subscribed: dict[int, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    campaign_orgs: dict[int, int] = field(default_factory=dict)  # never changes for a campaign


# One cache per database (its engine): tests and tools open several in one process.
_KNOWN: WeakKeyDictionary[Any, _Known] = WeakKeyDictionary()


def _known(session: AsyncSession) -> _Known:
    engine = session.get_bind()
    known = _KNOWN.get(engine)
    if known is None:
        known = _KNOWN[engine] = _Known()
    return known


def forget_subscriptions(session: AsyncSession) -> None:
    """After an endpoint changes in this process: the next event reads the subscriptions again."""
    _known(session).loaded_at = float("-inf")


async def _fresh(session: AsyncSession) -> _Known:
    known = _known(session)
    if time.monotonic() - known.loaded_at < SUBSCRIPTIONS_TTL:
        return known
    rows = await session.execute(
        select(EventEndpoint.id, EventEndpoint.org_id, EventEndpoint.event_types)
        .where(EventEndpoint.deleted_at.is_(None)).order_by(EventEndpoint.id)
    )
    subscribed: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for endpoint_id, org_id, types in rows:
        for event_type in types or ():
            subscribed[org_id][event_type].append(endpoint_id)
    known.subscribed = {org: {t: tuple(ids) for t, ids in by_type.items()} for org, by_type in subscribed.items()}
    known.loaded_at = time.monotonic()
    return known


def new_event_id() -> str:
    return new_event_ids(1)[0]


def new_event_ids(count: int) -> list[str]:
    """``evt_`` and 32 random hex digits each, from one read of the system's random source."""
    digits = os.urandom(16 * count).hex()
    return [f"evt_{digits[i:i + 32]}" for i in range(0, 32 * count, 32)]


def envelope(*, event_id: str, event_type: str, org_id: int, at: datetime, data: dict[str, Any]) -> str:
    """An event as a receiver sees it (docs/events.md); one element of a POST's JSON array.
    orjson: a round of statuses serialises thousands of these in the applier's transaction."""
    return orjson.dumps(
        {"id": event_id, "type": event_type, "created_at": at, "org_id": org_id, "data": data},
        option=orjson.OPT_UTC_Z,
    ).decode()


async def anyone_subscribed(session: AsyncSession) -> bool:
    """Whether any organization of this database has an endpoint: the hot paths skip building their
    events at all when none has."""
    return bool((await _fresh(session)).subscribed)


async def record_events(session: AsyncSession, events: Sequence[NewEvent]) -> int:
    """Appends the events for the endpoints subscribed to them: one row per endpoint holding its
    events of this call in order (more rows past BATCH_MAX_EVENTS), so an event costs its envelope,
    not a row. Returns how many events it wrote, an event counting once per endpoint."""
    if not events:
        return 0
    known = await _fresh(session)
    if not known.subscribed:
        return 0
    now = utcnow()
    batches: dict[int, _Batch] = {}
    ids = iter(new_event_ids(len(events)))
    for event in events:
        endpoint_ids = known.subscribed.get(event.org_id, {}).get(event.type)
        if not endpoint_ids:
            continue
        event_id = next(ids)
        payload = envelope(event_id=event_id, event_type=event.type, org_id=event.org_id, at=event.at or now,
                           data=event.data)
        for endpoint_id in endpoint_ids:
            batch = batches.get(endpoint_id)
            if batch is None:
                batch = batches[endpoint_id] = _Batch(event.org_id)
            batch.add(event_id, event.type, payload)
    if not batches:
        return 0
    await _append(session, [row for endpoint_id, batch in batches.items() for row in batch.rows(endpoint_id)], now)
    return sum(len(batch.ids) for batch in batches.values())


@dataclass(slots=True)
class _Batch:
    """One endpoint's events of one round (an endpoint belongs to one organization)."""

    org_id: int
    ids: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)

    def add(self, event_id: str, event_type: str, payload: str) -> None:
        self.ids.append(event_id)
        self.types.append(event_type)
        self.payloads.append(payload)

    def rows(self, endpoint_id: int) -> list[tuple[Any, ...]]:
        """(org, endpoint, first id, last id, count, types, payload) per BATCH_MAX_EVENTS events."""
        rows = []
        for start in range(0, len(self.ids), BATCH_MAX_EVENTS):
            end = start + BATCH_MAX_EVENTS
            ids = self.ids[start:end]
            rows.append((self.org_id, endpoint_id, ids[0], ids[-1], len(ids),
                         ",".join(dict.fromkeys(self.types[start:end])), ",".join(self.payloads[start:end])))
        return rows


async def _append(session: AsyncSession, rows: list[tuple[Any, ...]], now: datetime) -> None:
    """One INSERT of the round's rows (one per endpoint, usually), handed to the driver as they are;
    what every row shares (pending, no attempt, the round's time) is written in the statement once."""
    connection = await session.connection()
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    to_db = _outbox.c.created_at.type.bind_processor(dialect)  # what SQLAlchemy would store: UTCDateTime's form
    created_at = to_db(now) if to_db else now
    sql = (f"INSERT INTO {_outbox.name} (org_id, endpoint_id, event_id, last_event_id, event_count, event_types, "
           f"payload, status, attempts, created_at) "
           f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark}, 'pending', 0, {mark})")
    await connection.exec_driver_sql(sql, [(*row, created_at) for row in rows])


async def record_campaign_events(session: AsyncSession, events: Sequence[CampaignEvent]) -> int:
    """`record_events` for campaign and message events: ``campaign_id`` is added to each event's data.

    The call the quality circuit breaker and the budget cap make for ``campaign.paused_by_breaker``
    and ``campaign.budget_reached``."""
    if not events:
        return 0
    known = await _fresh(session)
    if not known.subscribed:
        return 0
    missing = {e.campaign_id for e in events} - known.campaign_orgs.keys()
    if missing:
        found = await session.execute(select(Campaign.id, Campaign.org_id).where(Campaign.id.in_(sorted(missing))))
        known.campaign_orgs.update({campaign_id: org_id for campaign_id, org_id in found})
    orgs = known.campaign_orgs
    return await record_events(session, [
        NewEvent(orgs[e.campaign_id], e.type, {"campaign_id": e.campaign_id, **e.data}, e.at)
        for e in events if e.campaign_id in orgs and orgs[e.campaign_id] in known.subscribed
    ])


async def record_test_event(session: AsyncSession, *, org_id: int, endpoint_id: int) -> str:
    """"Send test event": one ``endpoint.test`` event, a batch of one, for this endpoint only; returns its id."""
    event_id = new_event_id()
    now = utcnow()
    batch = _Batch(org_id)
    batch.add(event_id, TEST_EVENT, envelope(event_id=event_id, event_type=TEST_EVENT, org_id=org_id, at=now,
                                             data={"endpoint_id": endpoint_id, "message": "a test event sent from Herald"}))
    await _append(session, batch.rows(endpoint_id), now)
    return event_id
