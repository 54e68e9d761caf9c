"""Claiming pending campaign messages for sending: one function per dialect.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so workers never wait on each other's rows.
SQLite: no row locks; the claim runs inside ``BEGIN IMMEDIATE`` (see kit/db.py), which already
excludes every other writer, and ``UPDATE … RETURNING`` marks and reads the rows in one statement.
(SQLAlchemy silently drops FOR UPDATE on SQLite, which is why this is two functions.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status
from herald.kit.dialect import is_postgres
from herald.models import Campaign, CampaignMessage, MessageStatus

# Longer than a batch's pacing plus the HTTP timeout: a lease only expires if its worker died. Then
# the reaper returns ``claimed`` rows to ``pending`` and makes ``sending`` rows ``unknown``.
SEND_LEASE = timedelta(seconds=120)


def _candidates(campaign_id: int, now: datetime, limit: int) -> Select[Any]:
    campaign_active = exists().where(Campaign.id == campaign_id, Campaign.status == Status.active)
    return (
        select(CampaignMessage.id)
        .where(
            CampaignMessage.campaign_id == campaign_id,
            CampaignMessage.status == MessageStatus.pending,
            or_(CampaignMessage.next_attempt_at.is_(None), CampaignMessage.next_attempt_at <= now),
            campaign_active,
        )
        .order_by(CampaignMessage.id)
        .limit(limit)
    )


async def _mark_claimed(
    session: AsyncSession, ids: Select[Any], now: datetime, lease: timedelta
) -> list[tuple[int, int, int]]:
    stmt = (
        update(CampaignMessage)
        .where(CampaignMessage.id.in_(ids.scalar_subquery()))
        .values(status=MessageStatus.claimed, lease_until=now + lease, attempts=CampaignMessage.attempts + 1)
        .returning(CampaignMessage.id, CampaignMessage.contact_id, CampaignMessage.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    return sorted((r[0], r[1], r[2]) for r in rows)  # plain tuples: comparing Rows goes through Python code


async def claim_postgres(
    session: AsyncSession, *, campaign_id: int, now: datetime, limit: int, lease: timedelta
) -> list[tuple[int, int, int]]:
    ids = _candidates(campaign_id, now, limit).with_for_update(skip_locked=True)
    return await _mark_claimed(session, ids, now, lease)


async def claim_sqlite(
    session: AsyncSession, *, campaign_id: int, now: datetime, limit: int, lease: timedelta
) -> list[tuple[int, int, int]]:
    return await _mark_claimed(session, _candidates(campaign_id, now, limit), now, lease)


async def claim_messages(
    session: AsyncSession, *, campaign_id: int, now: datetime, limit: int, lease: timedelta = SEND_LEASE
) -> list[tuple[int, int, int]]:
    """Marks up to ``limit`` due messages ``claimed`` with a lease; returns (id, contact_id, attempts).
    Claimed is not yet sending: ``takeoff.py`` marks each ``sending`` just before its request goes."""
    claim = claim_postgres if is_postgres(session) else claim_sqlite
    return await claim(session, campaign_id=campaign_id, now=now, limit=limit, lease=lease)
