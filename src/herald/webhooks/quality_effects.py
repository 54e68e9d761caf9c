"""The quality circuit breaker's rating rules, applied as Meta's webhooks arrive (docs/quality.md):
a number whose quality rating drops to RED, a template whose quality drops to RED ("low"), pause the
active campaigns whose breaker has that rule on, in the transaction that applies the webhook.

A template Meta pauses or disables pauses its campaigns whatever their breaker says
(``campaigns/template_effects.py``: Meta would refuse the sends); the breaker adds its event for
the campaigns whose template rule is on, so one event type alerts on every quality stop.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import quality_pause
from herald.campaigns.template_effects import TemplateKey
from herald.models import WhatsAppNumber
from herald.quality import breaker

BREAKER_STATUSES = frozenset({"PAUSED", "DISABLED"})


async def number_turned_red(session: AsyncSession, number: WhatsAppNumber) -> list[int]:
    """Pauses the number's active campaigns whose breaker judges the number; returns them."""
    trip = breaker.number_red(number.display_phone_number)
    paused = []
    for campaign_id, settings in await quality_pause.active_on_number(session, number_id=number.id):
        if settings.enabled and settings.number_quality:
            if await quality_pause.pause_for_quality(session, campaign_id=campaign_id, trip=trip):
                paused.append(campaign_id)
    return paused


async def template_turned_red(session: AsyncSession, key: TemplateKey) -> list[int]:
    """Pauses the template's active campaigns whose breaker judges the template; returns them."""
    trip = breaker.template_red(key.name, key.language)
    paused = []
    for campaign_id, settings in await quality_pause.active_with_template(session, key):
        if settings.enabled and settings.template_quality:
            if await quality_pause.pause_for_quality(session, campaign_id=campaign_id, trip=trip):
                paused.append(campaign_id)
    return paused


async def template_status_paused(session: AsyncSession, campaign_ids: list[int], status: str, reason: str) -> None:
    """``campaign.paused_by_breaker`` for the campaigns Meta's pause of their template just paused."""
    trip = breaker.Trip("template_status", status, "APPROVED", reason)
    for campaign_id, settings in sorted((await quality_pause.breakers_of(session, campaign_ids)).items()):
        if settings.enabled and settings.template_quality:
            await quality_pause.record_breaker_event(session, campaign_id=campaign_id, trip=trip)
