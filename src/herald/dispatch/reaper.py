"""Turns messages whose sender died (lease expired in ``sending``) into ``unknown`` — never back to
``pending``, which could send them twice. A later status webhook resolves them."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters
from herald.models import CampaignMessage, MessageStatus


async def reap_expired_sends(session: AsyncSession, *, now: datetime) -> int:
    rows = await session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.status == MessageStatus.sending, CampaignMessage.lease_until < now)
        .values(status=MessageStatus.unknown, lease_until=None)
        .returning(CampaignMessage.campaign_id)
        .execution_options(synchronize_session=False)
    )
    per_campaign = Counter(rows.scalars())
    await counters.add_per_campaign(session, {c: {"pending": -n, "unknown": n} for c, n in per_campaign.items()})
    return sum(per_campaign.values())
