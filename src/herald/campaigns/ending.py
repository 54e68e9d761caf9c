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
    # In-flight `sending` messages are left to their sender, which records what WhatsApp answered.
    result = await session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.campaign_id == campaign_id, CampaignMessage.status == MessageStatus.pending)
        .values(status=MessageStatus.not_sent, error_msg=reasons.CAMPAIGN_ENDED, failed_at=utcnow(), next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    ended = result.rowcount  # type: ignore[attr-defined]
    if ended:
        await counters.add(session, campaign_id=campaign_id, pending=-ended, not_sent=ended)
        await counters.add_not_sent_reasons(session, campaign_id=campaign_id, reasons=Counter({reasons.CAMPAIGN_ENDED: ended}))
    await session.execute(delete(Engagement).where(Engagement.campaign_id == campaign_id))
