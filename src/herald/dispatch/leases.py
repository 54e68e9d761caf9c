"""Which worker paces which WhatsApp number: a renewable lease row per number, and a fair share.

A worker takes at most its share (numbers with active campaigns ÷ live workers, rounded up), so
two workers with two busy numbers take one each; a dead worker's numbers are taken over once its
lease runs out.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status
from herald.kit.dialect import insert
from herald.models import Campaign, NumberLease, WorkerHeartbeat

NUMBER_LEASE = timedelta(seconds=10)
HEARTBEAT_TTL = timedelta(seconds=10)


async def heartbeat(session: AsyncSession, *, worker_id: str, now: datetime) -> int:
    """Records this worker as alive; returns how many workers are alive."""
    stmt = insert(session, WorkerHeartbeat).values(worker_id=worker_id, seen_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=["worker_id"], set_={"seen_at": now}))
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < now - HEARTBEAT_TTL * 6))
    alive = await session.execute(
        select(func.count()).select_from(WorkerHeartbeat).where(WorkerHeartbeat.seen_at >= now - HEARTBEAT_TTL)
    )
    return max(1, int(alive.scalar_one()))


async def busy_numbers(session: AsyncSession) -> list[int]:
    rows = await session.execute(
        select(Campaign.whatsapp_number_id).where(Campaign.status == Status.active).distinct()
    )
    return sorted(n for n in rows.scalars() if n is not None)


async def try_leases(session: AsyncSession, *, number_ids: list[int], worker_id: str, now: datetime) -> set[int]:
    """Takes or renews each lease that is free, expired or already ours, in one conditional upsert;
    returns the numbers whose lease we now hold. One statement whatever the count: a worker holding a
    hundred numbers renews them all at once."""
    if not number_ids:
        return set()
    stmt = insert(session, NumberLease).values(
        # In id order: two workers' upserts lock shared rows in the same order, so never deadlock.
        [{"whatsapp_number_id": number_id, "owner": worker_id, "lease_until": now + NUMBER_LEASE}
         for number_id in sorted(set(number_ids))]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["whatsapp_number_id"],
        set_={"owner": worker_id, "lease_until": now + NUMBER_LEASE},
        where=(NumberLease.lease_until < now) | (NumberLease.owner == worker_id),
    ).returning(NumberLease.whatsapp_number_id, NumberLease.owner)
    return {number_id for number_id, owner in (await session.execute(stmt)).all() if owner == worker_id}


async def release(session: AsyncSession, *, number_id: int, worker_id: str) -> None:
    await session.execute(
        delete(NumberLease).where(NumberLease.whatsapp_number_id == number_id, NumberLease.owner == worker_id)
    )


async def retire(session: AsyncSession, *, worker_id: str) -> None:
    """A worker that stops (its senders stopped) lets go of its numbers and is no longer counted
    alive: the other workers take the numbers over at their next round."""
    await session.execute(delete(NumberLease).where(NumberLease.owner == worker_id))
    await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id))


def fair_share(busy: int, alive: int) -> int:
    return max(1, math.ceil(busy / max(1, alive)))
