"""Opting a contact out of marketing, or back in, with the reason kept on the contact and in its
history: Meta's ``user_preferences`` (``preferences.py``) and the organization's keywords
(``inbound.py``) both come here, so both do exactly the same thing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts import history
from herald.events.outbox import NewEvent, record_events
from herald.events.types import EventType
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
    return True


async def opt_in(session: AsyncSession, *, org_id: int, contact_id: int, at: datetime, reason: str,
                 **detail: Any) -> bool:
    if not await repository.clear_opted_out(session, contact_id=contact_id, at=at):
        return False
    await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.OPTED_IN, at=at,
                         reason=reason, **detail)
    return True
