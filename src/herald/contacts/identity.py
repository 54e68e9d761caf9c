"""Upserting a contact that carries a WhatsApp user id (BSUID), with or without a phone.

A contact is found by its phone or by its user id (docs/whatsapp.md, "Username users"). Used by
``POST /contacts?upsert=true`` and by the CSV import for rows with a ``wa_user_id``; rows with only
a phone keep the bulk path of ``herald.contacts.upsert``. One row at a time, in a savepoint: such
rows are few, and each needs both look-ups.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.upsert import ContactRow, UpsertedContact, add_contact_tags, ensure_tags, set_valued_tags
from herald.kit.types import utcnow
from herald.models import Contact


@dataclass(frozen=True, slots=True)
class IdentityConflict:
    """The row's phone and user id belong to two different contacts (or a concurrent write won)."""

    reason: str
    contact_id: int | None = None


async def matching_contacts(
    session: AsyncSession, *, org_id: int, phone: str | None, user_id: str | None
) -> list[tuple[int, str | None, str | None]]:
    """(id, phone, user id) of the contacts holding ``phone`` or ``user_id``: none, one or two."""
    keys = []
    if phone is not None:
        keys.append(Contact.phone == phone)
    if user_id is not None:
        keys.append(Contact.wa_user_id == user_id)
    if not keys:
        return []
    stmt = select(Contact.id, Contact.phone, Contact.wa_user_id).where(Contact.org_id == org_id, or_(*keys))
    return [(cid, p, u) for cid, p, u in await session.execute(stmt.order_by(Contact.id))]


def conflict_between(found: list[tuple[int, str | None, str | None]], phone: str | None, user_id: str | None) -> IdentityConflict | None:
    if len(found) < 2:
        return None
    by_phone = next(c for c in found if c[1] == phone)
    by_user = next(c for c in found if c[2] == user_id)
    return IdentityConflict(
        f"wa_user_id {user_id} belongs to contact {by_user[0]}, phone {phone} to contact {by_phone[0]}",
        by_user[0],
    )


async def upsert_identified(
    session: AsyncSession, *, org_id: int, row: ContactRow
) -> UpsertedContact | IdentityConflict:
    """Insert or update the contact with ``row.phone`` or ``row.wa_user_id``; the row's phone and
    user id are set on it, other fields follow ``upsert`` (not given keeps, tags added, valued tags
    overwritten per key)."""
    assert row.wa_user_id is not None
    found = await matching_contacts(session, org_id=org_id, phone=row.phone, user_id=row.wa_user_id)
    if conflict := conflict_between(found, row.phone, row.wa_user_id):
        return conflict
    now = utcnow()
    try:
        async with session.begin_nested():
            if found:
                contact_id, created = found[0][0], False
                values = {
                    "wa_user_id": row.wa_user_id, "name": func.coalesce(row.name, Contact.name),
                    "timezone": func.coalesce(row.timezone, Contact.timezone),
                    "locale": func.coalesce(row.locale, Contact.locale), "updated_at": now,
                }
                if row.phone is not None and row.phone != found[0][1]:
                    values |= {"phone": row.phone, "phone_raw": row.phone_raw}
                await session.execute(
                    update(Contact).where(Contact.id == contact_id).values(**values)
                    .execution_options(synchronize_session=False)
                )
            else:
                contact_id, created = (await session.execute(
                    insert(Contact).values(
                        org_id=org_id, phone=row.phone, phone_raw=row.phone_raw, wa_user_id=row.wa_user_id,
                        name=row.name, timezone=row.timezone, locale=row.locale, created_at=now, updated_at=now,
                    ).returning(Contact.id)
                )).scalar_one(), True
    except IntegrityError:  # a concurrent write took the phone or the user id first
        return IdentityConflict("the phone or wa_user_id was written by someone else at the same time; try again")
    tag_ids = await ensure_tags(session, org_id=org_id, names=row.tags)
    await add_contact_tags(session, pairs={(contact_id, tag_ids[t]) for t in row.tags})
    await set_valued_tags(session, org_id=org_id, values=[(contact_id, k, v) for k, v in row.valued_tags.items()])
    return UpsertedContact(id=contact_id, created=created)
