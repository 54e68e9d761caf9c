"""Percentiles of the time from acceptance to delivered / read / replied, one function per dialect.

PostgreSQL computes them in SQL (``percentile_cont`` … ``FILTER``), one scan for the three events.
SQLite has no percentile aggregate: it counts, then streams the sorted deltas and keeps only the
values at the ranks it needs, so memory stays flat however many messages the campaign has. Both
interpolate linearly between ranks, as ``percentile_cont`` does. It costs a scan of the campaign's
messages: it feeds a chart, not the per-second stats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, Table, and_, extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.kit.dialect import is_postgres
from herald.models import CampaignMessage

EVENTS = ("delivered", "read", "replied")
PERCENTILES = (0.5, 0.9)
_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50_s: float | None
    p90_s: float | None
    n: int


async def latency_percentiles(session: AsyncSession, *, campaign_id: int) -> dict[str, Percentiles]:
    """Event → median and 90th percentile of seconds since ``sent_at``, over messages that reached it."""
    if is_postgres(session):
        return await _postgres(session, campaign_id=campaign_id)
    return {event: await _sqlite(session, campaign_id=campaign_id, event=event) for event in EVENTS}


def _reached(event: str) -> ColumnElement[bool]:
    m = _messages.c
    return and_(m[f"{event}_at"].is_not(None), m.sent_at.is_not(None))


async def _postgres(session: AsyncSession, *, campaign_id: int) -> dict[str, Percentiles]:
    m = _messages.c
    columns = []
    for event in EVENTS:
        seconds = extract("epoch", m[f"{event}_at"] - m.sent_at)
        columns += [func.percentile_cont(p).within_group(seconds).filter(_reached(event)) for p in PERCENTILES]
        columns.append(func.count().filter(_reached(event)))
    row = (await session.execute(select(*columns).where(m.campaign_id == campaign_id))).one()
    result = {}
    for index, event in enumerate(EVENTS):
        p50, p90, n = row[index * 3 : index * 3 + 3]
        result[event] = Percentiles(_rounded(p50), _rounded(p90), int(n))
    return result


async def _sqlite(session: AsyncSession, *, campaign_id: int, event: str) -> Percentiles:
    m = _messages.c
    where = and_(m.campaign_id == campaign_id, _reached(event))
    n = int((await session.execute(select(func.count()).select_from(_messages).where(where))).scalar_one())
    if n == 0:
        return Percentiles(None, None, 0)
    # Text timestamps: julianday() parses them; the difference in days times 86,400 is seconds.
    seconds = ((func.julianday(m[f"{event}_at"]) - func.julianday(m.sent_at)) * 86400.0).label("seconds")
    stmt = select(seconds.cast(Float)).where(where).order_by(seconds)
    wanted = {rank for p in PERCENTILES for rank in _ranks(p, n)}
    found: dict[int, float] = {}
    result = await session.stream(stmt.execution_options(yield_per=2000))
    rank = 0
    async for value in result.scalars():
        if rank in wanted:
            found[rank] = float(value)
        rank += 1
        if rank > max(wanted):
            break
    await result.close()
    p50, p90 = (_interpolated(found, p, n) for p in PERCENTILES)
    return Percentiles(_rounded(p50), _rounded(p90), n)


def _ranks(p: float, n: int) -> tuple[int, int]:
    position = p * (n - 1)
    return math.floor(position), math.ceil(position)


def _interpolated(values: dict[int, float], p: float, n: int) -> float:
    position = p * (n - 1)
    low, high = _ranks(p, n)
    return values[low] + (values[high] - values[low]) * (position - low)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
