"""System messages about the contact (Cloud API "System messages webhook reference"): a new phone
number, a new business-scoped user id (BSUID), a new identity. docs/whatsapp.md, "Inbound messages".

``user_changed_number`` moves the contact to its new phone (``system.wa_id``; ``new_wa_id`` in older
payloads), keeping its id and so its history, tags, valued tags and engagement. When another contact
of the organization already has that phone, nothing moves: both contacts get a ``merge_needed``
event with the reason, for a person to merge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts import history
from herald.kit.types import utcnow
from herald.models import Contact
from herald.replies import repository
from herald.whatsapp import InboundMessage

CHANGED_NUMBER = frozenset({"user_changed_number", "customer_changed_number"})
CHANGED_USER_ID = frozenset({"user_changed_user_id"})
CHANGED_IDENTITY = frozenset({"user_identity_changed", "customer_identity_changed"})


def system_of(message: InboundMessage) -> Mapping[str, Any]:
    system = (message.raw or {}).get("system")
    return system if isinstance(system, Mapping) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


async def contact_named_by(session: AsyncSession, *, org_id: int, message: InboundMessage) -> int | None:
    """The contact a system message without a known sender is about: ``user_changed_user_id`` names
    the BSUID it had (``system.previous_user_id``) and may have no ``from`` at all."""
    previous = _text(system_of(message).get("previous_user_id"))
    if previous is None:
        return None
    return await repository.contact_id_for_sender(session, org_id=org_id, wa_id=None, user_id=previous)


async def apply_system(session: AsyncSession, *, org_id: int, contact_id: int, message: InboundMessage) -> str:
    """Applies a system message to its contact; what happened, in a word."""
    system = system_of(message)
    kind = system.get("type")
    at = message.timestamp
    body = _text(system.get("body"))
    if kind in CHANGED_NUMBER:
        return await _changed_number(session, org_id=org_id, contact_id=contact_id, message=message, system=system)
    if kind in CHANGED_USER_ID:
        user_id = _text(system.get("user_id"))
        if user_id is not None:
            await _set_user_id(session, contact_id=contact_id, user_id=user_id)
        await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.USER_ID_CHANGED, at=at,
                             wamid=message.wamid, user_id=user_id,
                             previous_user_id=_text(system.get("previous_user_id")), body=body)
        return "user_id_changed"
    if kind in CHANGED_IDENTITY:
        identity = (message.raw or {}).get("identity")
        await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.IDENTITY_CHANGED, at=at,
                             wamid=message.wamid, body=body,
                             identity=dict(identity) if isinstance(identity, Mapping) else None)
        return "identity_changed"
    return "other"


async def _set_user_id(session: AsyncSession, *, contact_id: int, user_id: str) -> None:
    await session.execute(update(Contact).where(Contact.id == contact_id).values(wa_user_id=user_id)
                          .execution_options(synchronize_session=False))


async def _phone_of(session: AsyncSession, contact_id: int) -> str | None:
    return (await session.execute(select(Contact.phone).where(Contact.id == contact_id))).scalar_one_or_none()


async def _holder(session: AsyncSession, *, org_id: int, phone: str, contact_id: int) -> int | None:
    stmt = select(Contact.id).where(Contact.org_id == org_id, Contact.phone == phone, Contact.id != contact_id)
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def _changed_number(session: AsyncSession, *, org_id: int, contact_id: int, message: InboundMessage,
                          system: Mapping[str, Any]) -> str:
    new_wa_id = _text(system.get("wa_id")) or _text(system.get("new_wa_id"))
    old = await _phone_of(session, contact_id)
    at = message.timestamp
    if new_wa_id is None or not new_wa_id.isdigit():
        await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.NUMBER_CHANGED, at=at,
                             wamid=message.wamid, old_phone=old, new_phone=None,
                             body=_text(system.get("body")), moved=False)
        return "number_not_given"
    new = "+" + new_wa_id
    if new == old:
        return "number_unchanged"
    other = await _holder(session, org_id=org_id, phone=new, contact_id=contact_id)
    if other is None:
        try:
            async with session.begin_nested():
                await session.execute(
                    update(Contact).where(Contact.id == contact_id)
                    .values(phone=new, phone_raw=new, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:  # another transaction gave that phone to a contact meanwhile
            other = await _holder(session, org_id=org_id, phone=new, contact_id=contact_id)
    if other is not None:
        reason = f"WhatsApp says {old or 'this contact'} changed number to {new}, which contact {other} already has"
        mirrored = f"WhatsApp says contact {contact_id} ({old or 'no phone'}) changed number to {new}, this contact's phone"
        await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.MERGE_NEEDED, at=at,
                             wamid=message.wamid, other_contact_id=other, old_phone=old, new_phone=new, reason=reason)
        await history.record(session, org_id=org_id, contact_id=other, kind=history.MERGE_NEEDED, at=at,
                             wamid=message.wamid, other_contact_id=contact_id, old_phone=old, new_phone=new,
                             reason=mirrored)
        return "merge_needed"
    user_id = _text(system.get("user_id"))
    if user_id is not None:
        await _set_user_id(session, contact_id=contact_id, user_id=user_id)
    await history.record(session, org_id=org_id, contact_id=contact_id, kind=history.NUMBER_CHANGED, at=at,
                         wamid=message.wamid, old_phone=old, new_phone=new, body=_text(system.get("body")),
                         moved=True)
    return "number_changed"
