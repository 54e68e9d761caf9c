"""Every query of the reports domain (per-dialect percentiles live in ``latency.py``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import (
    Campaign,
    CampaignNotSentReason,
    CampaignSendMinute,
    CampaignStats,
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

