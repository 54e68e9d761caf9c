"""Claiming due bot deliveries: one function per dialect, in order per contact.

A delivery is due when its time has come, no live lease holds it, and no earlier pending delivery
of the same contact exists: the earliest pending delivery of a contact goes first and the later
ones wait behind it, so a bot sees a contact's replies in the order they were written, even
across retries. Different contacts never wait for each other.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so workers never wait on each other's rows; an earlier
delivery that another worker holds still counts as pending, so the order holds between workers.
SQLite: the claim runs inside ``BEGIN IMMEDIATE`` (kit/db.py), which already excludes every other
writer, and ``UPDATE … RETURNING`` marks and reads in one statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from herald.kit.dialect import is_postgres
from herald.models import BotDelivery, BotFlow

# Longer than the HTTP timeout: a lease only expires if the worker that holds it died.
DELIVERY_LEASE = timedelta(seconds=60)
PENDING = "pending"


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: int
    delivery_id: str
    body: str
    attempts: int
    created_at: datetime
    webhook_url: str
    secret_enc: str


def _candidates(now: datetime, limit: int) -> Select[Any]:
    earlier = aliased(BotDelivery)
    waits_behind = exists().where(
        earlier.contact_id == BotDelivery.contact_id, earlier.status == PENDING, earlier.id < BotDelivery.id
    )
    return (
        select(BotDelivery.id)
        .where(
            BotDelivery.status == PENDING,
            BotDelivery.next_attempt_at <= now,
            or_(BotDelivery.lease_until.is_(None), BotDelivery.lease_until <= now),
            ~waits_behind,
        )
        .order_by(BotDelivery.next_attempt_at, BotDelivery.id)
        .limit(limit)
    )


async def _lease(session: AsyncSession, ids: Select[Any], now: datetime) -> list[ClaimedDelivery]:
    stmt = (
        update(BotDelivery)
        .where(BotDelivery.id.in_(ids.scalar_subquery()))
        .values(lease_until=now + DELIVERY_LEASE, attempts=BotDelivery.attempts + 1)
        .returning(BotDelivery.id)
        .execution_options(synchronize_session=False)
    )
    claimed = list((await session.execute(stmt)).scalars())
    if not claimed:
        return []
    rows = await session.execute(
        select(BotDelivery.id, BotDelivery.delivery_id, BotDelivery.body, BotDelivery.attempts,
               BotDelivery.created_at, BotFlow.webhook_url, BotFlow.secret_enc)
        .join(BotFlow, BotFlow.id == BotDelivery.bot_flow_id)
        .where(BotDelivery.id.in_(claimed))
        .order_by(BotDelivery.id)
    )
    return [ClaimedDelivery(*row) for row in rows]


async def claim_postgres(session: AsyncSession, *, now: datetime, limit: int) -> list[ClaimedDelivery]:
    ids = _candidates(now, limit).with_for_update(skip_locked=True)
    return await _lease(session, ids, now)


async def claim_sqlite(session: AsyncSession, *, now: datetime, limit: int) -> list[ClaimedDelivery]:
    return await _lease(session, _candidates(now, limit), now)


async def claim_deliveries(session: AsyncSession, *, now: datetime, limit: int) -> list[ClaimedDelivery]:
    """Leases up to ``limit`` due deliveries (attempts counted at claim) with their bot flow's address."""
    claim = claim_postgres if is_postgres(session) else claim_sqlite
    return await claim(session, now=now, limit=limit)


async def delivered(session: AsyncSession, *, delivery_id: int, at: datetime) -> None:
    await session.execute(
        update(BotDelivery).where(BotDelivery.id == delivery_id, BotDelivery.status == PENDING)
        .values(status="delivered", delivered_at=at, lease_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )


async def retry_later(session: AsyncSession, *, delivery_id: int, at: datetime, error: str) -> None:
    await session.execute(
        update(BotDelivery).where(BotDelivery.id == delivery_id, BotDelivery.status == PENDING)
        .values(next_attempt_at=at, lease_until=None, last_error=error)
        .execution_options(synchronize_session=False)
    )


async def release(session: AsyncSession, *, delivery_id: int) -> None:
    """A delivery whose POST a stop cut short: due again at once, its attempt not counted (the bot
    may have received it: deliveries are at least once)."""
    await session.execute(
        update(BotDelivery).where(BotDelivery.id == delivery_id, BotDelivery.status == PENDING)
        .values(lease_until=None, attempts=BotDelivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )


async def give_up(session: AsyncSession, *, delivery_id: int, error: str) -> None:
    await session.execute(
        update(BotDelivery).where(BotDelivery.id == delivery_id, BotDelivery.status == PENDING)
        .values(status="failed", lease_until=None, last_error=error)
        .execution_options(synchronize_session=False)
    )
