"""What the quality circuit breaker does to a campaign (docs/quality.md): pause it with the figure
that tripped, reporting ``campaign.paused_by_breaker`` beside the ordinary ``campaign.paused``; and
restart its window when it resumes.

The rules themselves are in ``breaker.py``; the engine checks the window rules per claim
(``dispatch/breaker.py``), the webhooks the rating rules (``webhooks/quality_effects.py``).
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns.lifecycle import Status, transition
from herald.campaigns.template_effects import TemplateKey
from herald.events.outbox import CampaignEvent, record_campaign_events
from herald.events.types import EventType
from herald.kit.errors import Conflict
from herald.models import Campaign, CampaignStats, WhatsAppNumber
from herald.models.campaign_stats import QUALITY_FIELDS
from herald.quality.breaker import BreakerSettings, Tally, Trip, restarted, settings_of

log = logging.getLogger("herald.campaigns")

REASON_MAX = 500  # campaigns.status_reason


async def pause_for_quality(session: AsyncSession, *, campaign_id: int, trip: Trip) -> bool:
    """active → paused with the trip's reason; False when it was not active (paused or ended meanwhile)."""
    try:
        await transition(session, campaign_id=campaign_id, to=Status.paused, from_states=frozenset({Status.active}),
                         values={"status_reason": trip.reason[:REASON_MAX]})
    except Conflict:
        return False
    log.warning("campaign %s paused: %s", campaign_id, trip.reason)
    await record_breaker_event(session, campaign_id=campaign_id, trip=trip)
    return True


async def record_breaker_event(session: AsyncSession, *, campaign_id: int, trip: Trip) -> None:
    await record_campaign_events(session, [CampaignEvent(campaign_id, EventType.campaign_paused_by_breaker,
                                                         trip.event_data())])


async def quality_totals(session: AsyncSession, *, campaign_id: int) -> tuple[Tally, list[Tally] | None] | None:
    """The campaign's quality counters and its window's marks (None before its first claim)."""
    row = (await session.execute(
        select(*(getattr(CampaignStats, name) for name in QUALITY_FIELDS), CampaignStats.quality_marks)
        .where(CampaignStats.campaign_id == campaign_id)
    )).one_or_none()
    if row is None:
        return None
    marks = None if row[4] is None else [Tally.of(m) for m in row[4]]
    return Tally.of(row[:4]), marks


async def store_marks(session: AsyncSession, *, campaign_id: int, marks: list[Tally]) -> None:
    await session.execute(
        update(CampaignStats).where(CampaignStats.campaign_id == campaign_id)
        .values(quality_marks=[m.stored() for m in marks]).execution_options(synchronize_session=False)
    )


async def restart_window(session: AsyncSession, *, campaign_id: int) -> None:
    """On resume: the window starts empty, so what tripped the breaker before is not judged again
    (the rates wait for ``min_sends`` new sends)."""
    found = await quality_totals(session, campaign_id=campaign_id)
    if found is not None:
        await store_marks(session, campaign_id=campaign_id, marks=restarted(found[0]))


async def active_on_number(session: AsyncSession, *, number_id: int) -> list[tuple[int, BreakerSettings]]:
    """(id, breaker) of the active campaigns sending from the number, in id order (the lock order)."""
    rows = await session.execute(
        select(Campaign.id, Campaign.breaker)
        .where(Campaign.whatsapp_number_id == number_id, Campaign.status == Status.active.value)
        .order_by(Campaign.id)
    )
    return [(campaign_id, settings_of(stored)) for campaign_id, stored in rows]


async def active_with_template(session: AsyncSession, key: TemplateKey) -> list[tuple[int, BreakerSettings]]:
    """(id, breaker) of the organization's active campaigns sending the template, in id order."""
    rows = await session.execute(
        select(Campaign.id, Campaign.breaker)
        .join(WhatsAppNumber, WhatsAppNumber.id == Campaign.whatsapp_number_id)
        .where(Campaign.org_id == key.org_id, WhatsAppNumber.waba_id == key.waba_id,
               Campaign.template_name == key.name, Campaign.template_language == key.language,
               Campaign.status == Status.active.value)
        .order_by(Campaign.id)
    )
    return [(campaign_id, settings_of(stored)) for campaign_id, stored in rows]


async def breakers_of(session: AsyncSession, campaign_ids: list[int]) -> dict[int, BreakerSettings]:
    if not campaign_ids:
        return {}
    rows = await session.execute(select(Campaign.id, Campaign.breaker).where(Campaign.id.in_(campaign_ids)))
    return {campaign_id: settings_of(stored) for campaign_id, stored in rows}
