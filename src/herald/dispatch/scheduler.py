"""Time-driven campaign work: scheduled starts, auto-end, and the reaper (``reaper.py``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.ending import release_ended
from herald.campaigns.launch import launch_campaign
from herald.campaigns.lifecycle import Status, transition
from herald.dispatch.reaper import reap_expired_sends, sweep_ended
from herald.kit.db import Database
from herald.kit.errors import Conflict
from herald.kit.types import utcnow
from herald.models import Campaign, CampaignStats

log = logging.getLogger("herald.dispatch")


async def start_due_campaigns(session: AsyncSession) -> list[int]:
    """A scheduled campaign starts exactly once: the conditional UPDATE picks who launches it."""
    now = utcnow()
    rows = await session.execute(
        update(Campaign)
        .where(Campaign.status == Status.scheduled.value, Campaign.start_at <= now)
        .values(status=Status.active.value, started_at=now)
        .returning(Campaign.id)
        .execution_options(synchronize_session=False)
    )
    started = list(rows.scalars())
    for campaign_id in started:
        await launch_campaign(session, campaign_id=campaign_id)
        log.info("scheduled campaign %s started", campaign_id,
                 extra={"campaign_id": campaign_id, "to": Status.active.value, "from_states": Status.scheduled.value})
    return started


async def auto_end_campaigns(database: Database) -> list[int]:
    """Ends active campaigns with nothing left to send, ``auto_end_after_hours`` after their last send.

    Each in a transaction of its own: ending one locks its campaign row, messages, counters and
    engagements, and another campaign's row after those would break the lock order
    (herald.campaigns.counters).
    """
    now = utcnow()
    async with database.read_session() as session:
        rows = (await session.execute(
            select(Campaign.id, Campaign.last_sent_at, Campaign.materialized_at, Campaign.auto_end_after_hours)
            .join(CampaignStats, CampaignStats.campaign_id == Campaign.id)
            .where(Campaign.status == Status.active.value, Campaign.materialized_at.is_not(None),
                   CampaignStats.pending == 0)
            .order_by(Campaign.id)
        )).all()
    ended = []
    for campaign_id, last_sent_at, materialized_at, hours in rows:
        since = last_sent_at or materialized_at
        if since is None or now - since < timedelta(hours=hours):
            continue
        async with database.session() as session:
            try:
                await transition(
                    session, campaign_id=campaign_id, to=Status.ended,
                    from_states=frozenset({Status.active}),
                    values={"ended_at": now, "status_reason": "ended automatically after the last send"},
                )
            except Conflict:
                continue
            await release_ended(session, campaign_id=campaign_id)
        ended.append(campaign_id)
        log.info("campaign %s ended automatically", campaign_id)
    return ended


async def tick(database: Database) -> None:
    """Scheduled starts, auto-ends and the reaper, each in transactions of its own."""
    async with database.session() as session:
        await start_due_campaigns(session)
    await auto_end_campaigns(database)
    async with database.session() as session:
        await reap_expired_sends(session, now=utcnow())
    async with database.session() as session:
        await sweep_ended(session, now=utcnow())
