"""Every query of the reports domain (per-dialect percentiles live in ``latency.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import (
    Campaign,
    CampaignMessage,
    CampaignNotSentReason,
    CampaignSendMinute,
    CampaignStats,
    MessageStatus,
)
from herald.models.campaign_stats import STAT_FIELDS


async def counters(session: AsyncSession, *, campaign_id: int, org_id: int | None) -> dict[str, int] | None:
    """The campaign's counter row (zeros before launch); None when no such campaign (in that org).

    One primary-key read joined to the campaign, so the org check costs no second query.
    """
    stmt = (
        select(Campaign.id, *(getattr(CampaignStats, name) for name in STAT_FIELDS))
        .select_from(Campaign)
        .outerjoin(CampaignStats, CampaignStats.campaign_id == Campaign.id)
        .where(Campaign.id == campaign_id)
    )
    if org_id is not None:
        stmt = stmt.where(Campaign.org_id == org_id)
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    return {name: int(value or 0) for name, value in zip(STAT_FIELDS, row[1:], strict=True)}


async def not_sent_reasons(session: AsyncSession, *, campaign_id: int) -> dict[str, int]:
    stmt = (
        select(CampaignNotSentReason.reason, CampaignNotSentReason.count)
        .where(CampaignNotSentReason.campaign_id == campaign_id, CampaignNotSentReason.count > 0)
        .order_by(CampaignNotSentReason.count.desc(), CampaignNotSentReason.reason)
    )
    return {reason: int(count) for reason, count in (await session.execute(stmt)).all()}


async def send_minutes(session: AsyncSession, *, campaign_id: int) -> list[tuple[int, int]]:
    """(minute since the epoch, accepted sends), oldest first."""
    stmt = (
        select(CampaignSendMinute.minute, CampaignSendMinute.count)
        .where(CampaignSendMinute.campaign_id == campaign_id, CampaignSendMinute.count > 0)
        .order_by(CampaignSendMinute.minute)
    )
    return [(int(minute), int(count)) for minute, count in (await session.execute(stmt)).all()]



async def waiting(session: AsyncSession, *, campaign_id: int, now: datetime) -> tuple[dict[str, int], datetime | None]:
    """Pending messages due later with a reason (the messaging limit, a 131049 retry): counts by reason,
    and the earliest due time. A range of the claim index (campaign, status, next_attempt_at)."""
    rows = (await session.execute(
        select(CampaignMessage.wait_reason, func.count(), func.min(CampaignMessage.next_attempt_at))
        .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.status == MessageStatus.pending,
               CampaignMessage.next_attempt_at > now, CampaignMessage.wait_reason.is_not(None))
        .group_by(CampaignMessage.wait_reason)
        .order_by(func.count().desc(), CampaignMessage.wait_reason)
    )).all()
    times = [at for _, _, at in rows if at is not None]
    return {str(reason): int(n) for reason, n, _ in rows}, min(times) if times else None
