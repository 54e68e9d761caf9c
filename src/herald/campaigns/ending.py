"""What ending a campaign does besides its status: never-sent messages become ``not_sent: campaign
ended`` and every engaged contact is released for the next campaign."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters, reasons
from herald.kit.types import utcnow
from herald.models import CampaignMessage, Engagement, MessageStatus


async def release_ended(session: AsyncSession, *, campaign_id: int) -> None:
    """Call in the transaction that moved the campaign to ``ended``."""
    ended = await close_pending(session, campaign_id=campaign_id)
    await count_closed(session, campaign_id=campaign_id, closed=ended)
    await release_engagements(session, campaign_ids=[campaign_id])


async def close_pending(session: AsyncSession, *, campaign_id: int) -> int:
    """Its messages never sent become ``not_sent: campaign ended``; returns how many (the counters are
    the caller's: ``count_closed``, after the campaign's row in the lock order of ``counters``)."""
    # In-flight `sending` messages are left to their sender, which records what WhatsApp answered.
    result = await session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.status == MessageStatus.pending)
        .values(status=MessageStatus.not_sent, error_msg=reasons.CAMPAIGN_ENDED, failed_at=utcnow(), next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def count_closed(session: AsyncSession, *, campaign_id: int, closed: int) -> None:
    if closed:
        await counters.add(session, campaign_id=campaign_id, pending=-closed, not_sent=closed)
        await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=Counter({reasons.CAMPAIGN_ENDED: closed}))


async def release_engagements(session: AsyncSession, *, campaign_ids: list[int]) -> None:
    """Last in the lock order: the contacts are free for the next campaign."""
    if campaign_ids:
        await session.execute(delete(Engagement).where(Engagement.campaign_id.in_(campaign_ids)))
