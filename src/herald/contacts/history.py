"""What happened to a contact that is not a message, and the merges left for a person to do.

One row per event (``contact_events``): ``number_changed`` (WhatsApp moved the contact to a new
phone), ``merge_needed`` (it could not, another contact has that phone: one row on each contact),
``identity_changed`` and ``user_id_changed`` (Meta's system messages), ``opted_out`` and
``opted_in`` (a keyword the contact wrote, or Meta's user_preferences) — docs/whatsapp.md,
"Inbound messages".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from herald.models import Contact, ContactEvent, InboundMessage

NUMBER_CHANGED = "number_changed"
MERGE_NEEDED = "merge_needed"
IDENTITY_CHANGED = "identity_changed"
USER_ID_CHANGED = "user_id_changed"
OPTED_OUT = "opted_out"
OPTED_IN = "opted_in"


@dataclass(frozen=True, slots=True)
class MergeNeeded:
    contact_id: int  # the other contact
    phone: str | None  # the other contact's phone now
    reason: str
    at: datetime


async def record(
    session: AsyncSession, *, org_id: int, contact_id: int, kind: str, at: datetime, **detail: Any
) -> None:
    session.add(ContactEvent(org_id=org_id, contact_id=contact_id, kind=kind, at=at, detail=detail))
    await session.flush()


async def events_of(session: AsyncSession, *, contact_id: int, limit: int = 50) -> list[ContactEvent]:
    stmt = (select(ContactEvent).where(ContactEvent.contact_id == contact_id)
            .order_by(ContactEvent.at.desc(), ContactEvent.id.desc()).limit(limit))
    return list((await session.execute(stmt)).scalars())


async def merges_needed(session: AsyncSession, *, contact_ids: list[int]) -> dict[int, list[MergeNeeded]]:
    """The merges still to do for these contacts: those whose other contact still exists."""
    if not contact_ids:
        return {}
    other = aliased(Contact)
    other_id = ContactEvent.detail["other_contact_id"].as_integer()
    stmt = (
        select(ContactEvent.contact_id, other.id, other.phone, ContactEvent.detail["reason"].as_string(), ContactEvent.at)
        .join(other, other.id == other_id)
        .where(ContactEvent.contact_id.in_(contact_ids), ContactEvent.kind == MERGE_NEEDED)
        .order_by(ContactEvent.id)
    )
    found: dict[int, list[MergeNeeded]] = defaultdict(list)
    for contact_id, other_contact, phone, reason, at in await session.execute(stmt):
        found[contact_id].append(MergeNeeded(other_contact, phone, reason or "", at))
    return dict(found)


async def messages_of(session: AsyncSession, *, contact_id: int, limit: int = 30) -> list[InboundMessage]:
    """The contact's latest inbound messages, newest first, whatever they are (replies or not)."""
    stmt = (select(InboundMessage).where(InboundMessage.contact_id == contact_id)
            .order_by(InboundMessage.sent_at.desc(), InboundMessage.id.desc()).limit(limit))
    return list((await session.execute(stmt)).scalars())
