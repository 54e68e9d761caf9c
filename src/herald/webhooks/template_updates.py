"""Applying Meta's template webhooks: status, quality and category, then their effect on campaigns.

The template changes at once (``herald.templates.meta_events``, with a history row), and in the same
transaction the campaigns sending it are paused, told they can resume, or resumed
(``herald.campaigns.template_effects``); a quality drop to RED pauses those whose quality breaker
says so (``quality_effects.py``). Events apply in Meta's order (``entry.time``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import template_effects
from herald.events.outbox import NewEvent, record_events
from herald.events.types import EventType
from herald.kit.types import utcnow
from herald.quality.breaker import RED
from herald.templates import meta_events
from herald.templates.meta_events import Applied
from herald.webhooks import events as ev
from herald.webhooks import quality_effects, waba_events
from herald.webhooks.events import StoredEvent, mark


async def apply_template_updates(session: AsyncSession, rows: list[StoredEvent]) -> None:
    now = utcnow()
    for row, org_id, update in waba_events.in_meta_order(rows):
        if row.kind == ev.TEMPLATE_STATUS:
            applied = await meta_events.apply_status(session, org_id=org_id, update=update, received_at=now)
        elif row.kind == ev.TEMPLATE_QUALITY:
            applied = await meta_events.apply_quality(session, org_id=org_id, update=update, received_at=now)
        else:
            applied = await meta_events.apply_category(session, org_id=org_id, update=update, received_at=now)
        if not applied:
            mark(row, "unknown_template")
            continue
        if row.kind == ev.TEMPLATE_STATUS:
            await record_events(session, [_status_changed(change) for change in applied if change.was_status != change.status])
        outcomes = [await _campaign_effects(session, row.kind, change) for change in applied]
        mark(row, next((o for o in outcomes if o != "applied"), "applied"))


def _status_changed(change: Applied) -> NewEvent:
    t = change.template
    return NewEvent(t.org_id, EventType.template_status_changed, {
        "template_id": t.id, "name": t.name, "language": t.language, "previous_status": change.was_status,
        "status": change.status, "reason": change.reason}, change.at)


async def _campaign_effects(session: AsyncSession, kind: str, change: Applied) -> str:
    t = change.template
    key = template_effects.TemplateKey(org_id=t.org_id, waba_id=t.waba_id, name=t.name, language=t.language)
    if kind == ev.TEMPLATE_STATUS and not change.sendable:
        reason = template_effects.unusable_reason(t.name, t.language, change.status, change.at, change.reason)
        paused = await template_effects.template_unusable(session, key, reason=reason)
        if change.status in quality_effects.BREAKER_STATUSES:
            await quality_effects.template_status_paused(session, paused, change.status, reason)
        return f"paused {len(paused)} campaigns" if paused else "applied"
    if kind == ev.TEMPLATE_QUALITY and t.quality_score == RED and change.was_quality != RED:
        paused = await quality_effects.template_turned_red(session, key)
        return f"paused {len(paused)} campaigns" if paused else "applied"
    if kind == ev.TEMPLATE_STATUS and change.reinstated:
        resumed = await template_effects.template_reinstated(session, key, at=change.at)
        return f"resumed {len(resumed)} campaigns" if resumed else "applied"
    if kind == ev.TEMPLATE_CATEGORY and change.recategorised:
        assert change.previous_category is not None and change.new_category is not None
        reason = template_effects.recategorised_reason(
            t.name, t.language, change.previous_category, change.new_category, change.at)
        paused = await template_effects.template_recategorised(session, key, reason=reason)
        return f"paused {len(paused)} campaigns" if paused else "applied"
    return "applied"
