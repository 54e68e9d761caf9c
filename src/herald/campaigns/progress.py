"""The progress of listed campaigns (``reports/progress.py``), with each scheduled campaign's audience
counted now, so that its estimated finish is its start time plus the time its audience takes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import preview
from herald.campaigns.lifecycle import Status
from herald.campaigns.send_window import ESTIMATE_DAYS, window_of
from herald.models import Campaign
from herald.reports import progress
from herald.reports.schemas import CampaignProgressOut


async def audience_of(session: AsyncSession, campaign: Campaign) -> progress.Audience:
    counts = await preview.preview_campaign(session, org_id=campaign.org_id, campaign_id=campaign.id)
    limit = counts.messaging_limit
    return progress.Audience(
        eligible=counts.eligible, limit_per_24h=limit.limit_per_24h if limit else None,
        limit_waiting=limit.waiting if limit else 0, window_hours=await window_hours(session, campaign),
    )


async def window_hours(session: AsyncSession, campaign: Campaign, *, start_at: datetime | None = None,
                       rate_per_hour: float | None = None) -> float | None:
    """The hours the campaign's send window lets its eligible contacts take from ``start_at`` (its
    own start time by default) at the pace; None without a window, a start or a pace."""
    window = window_of(campaign)
    start = start_at or campaign.start_at
    per_hour = rate_per_hour or campaign.rate_per_hour or (
        campaign.rate_per_second * 3600 if campaign.rate_per_second else None)
    if window is None or start is None or not per_hour:
        return None
    zones = await preview.eligible_zones(session, org_id=campaign.org_id, campaign_id=campaign.id)
    hours = window.hours_to_send(zones, start, per_hour)
    return float(ESTIMATE_DAYS * 24) if hours is None else hours


async def progress_of(session: AsyncSession, *, org_id: int, campaigns: Sequence[Campaign]) -> dict[int, CampaignProgressOut]:
    """One query for every campaign's counters and pace; one audience count per scheduled campaign
    (few at a time: a campaign is scheduled until it starts)."""
    audiences = {c.id: await audience_of(session, c) for c in campaigns if c.status == Status.scheduled}
    return await progress.progress_of(
        session, org_id=org_id, campaign_ids=[c.id for c in campaigns], audiences=audiences
    )
