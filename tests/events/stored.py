"""The events waiting in (or delivered from) the outbox, read back as a receiver would get them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from herald.kit.db import Database
from herald.models import EventOutbox


def events_of(payload: str) -> list[dict[str, Any]]:
    """A row's events: its payload is its envelopes, comma-separated (a POST's body puts rows in brackets)."""
    events: list[dict[str, Any]] = json.loads("[" + payload + "]")
    return events


async def stored_events(database: Database, event_type: str | None = None) -> list[dict[str, Any]]:
    """Every stored event in the order it is sent (rows by id, each row's events in order)."""
    async with database.read_session() as session:
        payloads = (await session.execute(select(EventOutbox.payload).order_by(EventOutbox.id))).scalars()
        events = [event for payload in payloads for event in events_of(payload)]
    return [e for e in events if event_type is None or e["type"] == event_type]
