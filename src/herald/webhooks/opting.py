"""Opting a contact out of marketing, or back in, with the reason kept on the contact and in its
history: Meta's ``user_preferences`` (``preferences.py``) and the organization's keywords
(``inbound.py``) both come here, so both do exactly the same thing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.campaigns import counters
from herald.contacts import history
from herald.events.outbox import NewEvent, record_events
from herald.events.types import EventType
from herald.models import Engagement
from herald.replies import repository


async def opt_out(session: AsyncSession, *, org_id: int, contact_id: int, at: datetime, reason: str,
                  **detail: Any) -> bool:
    """True when the contact was not opted out before (an opted-out contact keeps its first reason)."""
    if not await repository.set_opted_out(session, contact_id=contact_id, at=at, reason=reason):
        return False
    await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.OPTED_OUT, at=at,
                         reason=reason, **detail)
    await record_events(session, [NewEvent(org_id, EventType.contact_opted_out,
                                           {"contact_id": contact_id, "reason": reason}, at)])
    await _count_for_campaign(session, contact_id=contact_id)
    return True


async def _count_for_campaign(session: AsyncSession, *, contact_id: int) -> None:
    """The quality breaker's opt-out count (quality/breaker.py) of the campaign the contact is engaged
    in, if any: an opt-out is rare, so a primary-key read of its engagement costs nothing that matters."""
    campaign_id = (await session.execute(
        select(Engagement.campaign_id).where(Engagement.contact_id == contact_id)
    )).scalar_one_or_none()
    if campaign_id is not None:
        await counters.add(session, campaign_id=campaign_id, quality_opt_outs=1)


async def opt_in(session: AsyncSession, *, org_id: int, contact_id: int, at: datetime, reason: str,
                 **detail: Any) -> bool:
    if not await repository.clear_opted_out(session, contact_id=contact_id, at=at):
        return False
    await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.OPTED_IN, at=at,
                         reason=reason, **detail)
    return True
