"""What a dead sender leaves behind, and what an ended campaign is given back.

A sender that died (its lease ran out) leaves ``claimed`` rows. Those up to their claim's watermark
(``SendClaim``, raised just before each request left: ``takeoff.py``) may have reached WhatsApp:
they become ``unknown`` — never back to ``pending``, which could send them twice. A status webhook
resolves them later (``webhooks/statuses.py``), or an operator sends them again once they stay
unresolved (``campaigns/resend.py``). The others never left: they go back to ``pending`` (their
attempt refunded) and are sent by whoever holds the number next. The claim itself is deleted first,
so that a sender that only stalled finds it gone and sends none of them. Rows ``sending`` (held under
the rule of older versions) become ``unknown``.

A sender that gives messages back (``Released``, ``Retry``) to a campaign that ended meanwhile
makes them ``pending`` after the ending made its pending ones ``not_sent`` (``campaigns/ending.py``):
``sweep_ended`` finishes the job for campaigns ended in the last day.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters, reasons
from herald.campaigns.lifecycle import Status
from herald.models import Campaign, CampaignMessage, MessageStatus, SendClaim

# Ended campaigns looked at by ``sweep_ended``: a give-back lands within seconds of the ending.
SWEEP_ENDED_WITHIN = timedelta(days=1)


async def reap_expired_sends(session: AsyncSession, *, now: datetime) -> int:
    """Expired ``claimed`` rows up to their claim's watermark (and expired ``sending`` rows) to
    ``unknown``, the other expired ``claimed`` rows back to ``pending``; returns how many became unknown."""
    expired = (CampaignMessage.status == MessageStatus.claimed) & (CampaignMessage.lease_until < now)
    # The claims first (the lock order of herald.campaigns.counters): a flush raising one of them
    # waits for this transaction, then finds it gone.
    taken = (await session.execute(
        delete(SendClaim)
        .where(SendClaim.id.in_(select(CampaignMessage.claim_id).where(expired).scalar_subquery()))
        .returning(SendClaim.id, SendClaim.watermark)
        .execution_options(synchronize_session=False)
    )).all()
    gone: Counter[int] = Counter()
    for claim_id, watermark in sorted(taken):
        rows = await session.execute(
            update(CampaignMessage)
            .where(expired, CampaignMessage.claim_id == claim_id, CampaignMessage.id <= watermark)
            .values(status=MessageStatus.unknown, lease_until=None, unknown_since=now)
            .returning(CampaignMessage.campaign_id)
            .execution_options(synchronize_session=False)
        )
        gone.update(rows.scalars())
    await session.execute(
        update(CampaignMessage)
        .where(expired)
        .values(status=MessageStatus.pending, lease_until=None, attempts=CampaignMessage.attempts - 1)
        .execution_options(synchronize_session=False)
    )  # claimed and pending both count as pending: no counter moves
    rows = await session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.status == MessageStatus.sending, CampaignMessage.lease_until < now)
        .values(status=MessageStatus.unknown, lease_until=None, unknown_since=now)
        .returning(CampaignMessage.campaign_id)
        .execution_options(synchronize_session=False)
    )
    gone.update(rows.scalars())
    await counters.add_per_campaign(session, {c: {"pending": -n, "unknown": n} for c, n in gone.items()})
    return sum(gone.values())


async def sweep_ended(session: AsyncSession, *, now: datetime) -> int:
    """Pending messages of campaigns ended in the last day become ``not_sent: campaign ended``."""
    recently_ended = select(Campaign.id).where(
        Campaign.status == Status.ended, Campaign.ended_at >= now - SWEEP_ENDED_WITHIN
    )
    rows = await session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.campaign_id.in_(recently_ended.scalar_subquery()),
               CampaignMessage.status == MessageStatus.pending)
        .values(status=MessageStatus.not_sent, error_msg=reasons.CAMPAIGN_ENDED, failed_at=now, next_attempt_at=None)
        .returning(CampaignMessage.campaign_id)
        .execution_options(synchronize_session=False)
    )
    per_campaign = Counter(rows.scalars())
    await counters.add_per_campaign(
        session, {c: {"pending": -n, "not_sent": n} for c, n in per_campaign.items()},
        {c: Counter({reasons.CAMPAIGN_ENDED: n}) for c, n in per_campaign.items()},
    )
    return sum(per_campaign.values())
