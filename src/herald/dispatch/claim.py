"""Claiming pending campaign messages for sending: one function per dialect.

PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so workers never wait on each other's rows.
SQLite: no row locks; the claim runs inside ``BEGIN IMMEDIATE`` (see kit/db.py), which already
excludes every other writer, and ``UPDATE … RETURNING`` marks and reads the rows in one statement.
(SQLAlchemy silently drops FOR UPDATE on SQLite, which is why this is two functions.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, delete, exists, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status
from herald.kit.dialect import is_postgres
from herald.models import Campaign, CampaignMessage, MessageStatus, SendClaim

# Longer than a batch's pacing plus the HTTP timeout: a lease only expires if its worker died. Then
# the reaper makes the ``claimed`` rows up to their claim's watermark ``unknown`` and returns the
# others to ``pending`` (``reaper.py``).
SEND_LEASE = timedelta(seconds=120)


class Claimed(NamedTuple):
    """What one claim took: its ``SendClaim`` id, and (id, contact_id, attempts) of each message."""

    claim_id: int
    rows: list[tuple[int, int, int]]


def candidates(campaign_id: int, now: datetime, limit: int) -> Select[Any]:
    """The ids of the campaign's messages a claim would take now, while it is active, in id order."""
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
) -> Claimed:
    claim_id = (await session.execute(insert(SendClaim).values(watermark=0).returning(SendClaim.id))).scalar_one()
    stmt = (
        update(CampaignMessage)
        .where(CampaignMessage.id.in_(ids.scalar_subquery()))
        .values(status=MessageStatus.claimed, lease_until=now + lease, attempts=CampaignMessage.attempts + 1,
                claim_id=claim_id)
        .returning(CampaignMessage.id, CampaignMessage.contact_id, CampaignMessage.attempts)
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).all()
    if not rows:  # nothing due: no claim to keep
        await session.execute(delete(SendClaim).where(SendClaim.id == claim_id))
    return Claimed(claim_id, sorted((r[0], r[1], r[2]) for r in rows))  # plain tuples: comparing Rows goes through Python code


async def claim_postgres(
    session: AsyncSession, *, campaign_id: int, now: datetime, limit: int, lease: timedelta
) -> Claimed:
    ids = candidates(campaign_id, now, limit).with_for_update(skip_locked=True)
    return await _mark_claimed(session, ids, now, lease)


async def claim_sqlite(
    session: AsyncSession, *, campaign_id: int, now: datetime, limit: int, lease: timedelta
) -> Claimed:
    return await _mark_claimed(session, candidates(campaign_id, now, limit), now, lease)


async def claim_messages(
    session: AsyncSession, *, campaign_id: int, now: datetime, limit: int, lease: timedelta = SEND_LEASE
) -> Claimed:
    """Marks up to ``limit`` due messages ``claimed`` with a lease, under one new ``SendClaim``; returns
    the claim's id and the messages as (id, contact_id, attempts) in id order, the order they leave in.
    Claimed is not yet sent: ``takeoff.py`` raises the claim's watermark just before each request goes."""
    claim = claim_postgres if is_postgres(session) else claim_sqlite
    return await claim(session, campaign_id=campaign_id, now=now, limit=limit, lease=lease)
