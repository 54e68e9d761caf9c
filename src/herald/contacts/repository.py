"""Every query of the contacts domain except the bulk upserts (see ``upsert.py``). All org-scoped."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.audience_lock import hold_audience_lock
from herald.kit.dialect import is_postgres
from herald.models import Campaign, CampaignMessage, Contact, ContactTag, ContactValuedTag, Engagement, Tag


@dataclass(frozen=True, slots=True)
class ContactFilter:
    """Every condition must hold: all ``tags``, all ``valued_tags`` (key, or key = value), and ``q``."""

    tags: Sequence[str] = ()
    valued_tags: Sequence[tuple[str, str | None]] = ()
    q: str | None = None


async def contact_by_id(session: AsyncSession, *, org_id: int, contact_id: int) -> Contact | None:
    query = select(Contact).where(Contact.org_id == org_id, Contact.id == contact_id)
    return (await session.execute(query)).scalar_one_or_none()


async def contact_by_phone(session: AsyncSession, *, org_id: int, phone: str) -> Contact | None:
    query = select(Contact).where(Contact.org_id == org_id, Contact.phone == phone)
    return (await session.execute(query)).scalar_one_or_none()


async def contact_by_user_id(session: AsyncSession, *, org_id: int, user_id: str) -> Contact | None:
    query = select(Contact).where(Contact.org_id == org_id, Contact.wa_user_id == user_id)
    return (await session.execute(query)).scalar_one_or_none()


def _conditions(org_id: int, where: ContactFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Contact.org_id == org_id]
    for name in where.tags:
        tagged = (
            select(ContactTag.contact_id)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(Tag.org_id == org_id, Tag.name == name, ContactTag.contact_id == Contact.id)
        )
        conditions.append(exists(tagged))
    for key, value in where.valued_tags:
        valued = select(ContactValuedTag.contact_id).where(
            ContactValuedTag.contact_id == Contact.id, ContactValuedTag.key == key
        )
        if value is not None:
            valued = valued.where(ContactValuedTag.value == value)
        conditions.append(exists(valued))
    if where.q:
        conditions.append(_matches(where.q))
    return conditions


def _matches(q: str) -> ColumnElement[bool]:
    # Phones are stored as +digits: "+33 6 12" should find +33612…, so compare without separators.
    phone_q = "".join(ch for ch in q if ch.isdigit() or ch == "+")
    name_match = or_(Contact.name.icontains(q, autoescape=True), Contact.wa_user_id == q.strip())
    if not phone_q:
        return name_match
    return or_(name_match, Contact.phone.contains(phone_q, autoescape=True))


async def list_contacts(
    session: AsyncSession, *, org_id: int, where: ContactFilter, after_id: int, limit: int
) -> list[Contact]:
    query = (
        select(Contact)
        .where(*_conditions(org_id, where), Contact.id > after_id)
        .order_by(Contact.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def tags_by_contact(session: AsyncSession, *, contact_ids: Collection[int]) -> dict[int, list[str]]:
    """The tags of many contacts in one query (a page never costs one query per contact)."""
    found: dict[int, list[str]] = defaultdict(list)
    if not contact_ids:
        return found
    query = (
        select(ContactTag.contact_id, Tag.name)
        .join(Tag, Tag.id == ContactTag.tag_id)
        .where(ContactTag.contact_id.in_(list(contact_ids)))
        .order_by(Tag.name)
    )
    for contact_id, name in await session.execute(query):
        found[contact_id].append(name)
    return found


async def valued_tags_by_contact(
    session: AsyncSession, *, contact_ids: Collection[int]
) -> dict[int, dict[str, str]]:
    found: dict[int, dict[str, str]] = defaultdict(dict)
    if not contact_ids:
        return found
    query = (
        select(ContactValuedTag.contact_id, ContactValuedTag.key, ContactValuedTag.value)
        .where(ContactValuedTag.contact_id.in_(list(contact_ids)))
        .order_by(ContactValuedTag.key)
    )
    for contact_id, key, value in await session.execute(query):
        found[contact_id][key] = value
    return found


async def detach_tags_except(session: AsyncSession, *, contact_id: int, keep_tag_ids: Collection[int]) -> None:
    stmt = delete(ContactTag).where(ContactTag.contact_id == contact_id)
    if keep_tag_ids:
        stmt = stmt.where(ContactTag.tag_id.not_in(list(keep_tag_ids)))
    await session.execute(stmt)


async def delete_valued_tags(session: AsyncSession, *, contact_id: int, keys: Collection[str]) -> None:
    if keys:
        await session.execute(
            delete(ContactValuedTag).where(
                ContactValuedTag.contact_id == contact_id, ContactValuedTag.key.in_(list(keys))
            )
        )


async def delete_contact(session: AsyncSession, *, org_id: int, contact_id: int) -> bool:
    """Deletes the contact with its engagement and campaign messages, which have no foreign key to
    ``contacts`` (for the speed of materialising audiences) and so no cascade to do it."""
    if is_postgres(session):
        # Waits for a materialising chunk that may have read this contact, and holds the next ones
        # off until this commits, so none can insert a row for it after the deletes below.
        await hold_audience_lock(session, org_id=org_id, exclusive=True)
    result = await session.execute(delete(Contact).where(Contact.org_id == org_id, Contact.id == contact_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(delete(Engagement).where(Engagement.contact_id == contact_id))
    # Through the (campaign_id, contact_id) unique key, one probe per campaign of the organization.
    campaign_ids = select(Campaign.id).where(Campaign.org_id == org_id).scalar_subquery()
    await session.execute(
        delete(CampaignMessage)
        .where(CampaignMessage.campaign_id.in_(campaign_ids), CampaignMessage.contact_id == contact_id)
        .execution_options(synchronize_session=False)
    )
    return True


async def tag_counts(session: AsyncSession, *, org_id: int) -> list[tuple[str, int]]:
    """Tags that at least one contact carries, with how many."""
    query = (
        select(Tag.name, func.count(ContactTag.contact_id))
        .join(ContactTag, ContactTag.tag_id == Tag.id)
        .where(Tag.org_id == org_id)
        .group_by(Tag.name)
        .order_by(Tag.name)
    )
    return [(name, count) for name, count in await session.execute(query)]


async def valued_tag_value_counts(
    session: AsyncSession, *, org_id: int, key: str, prefix: str, limit: int
) -> list[tuple[str, int]]:
    """The values of one valued tag key, most carried first, with how many contacts carry each."""
    contacts = func.count(ContactValuedTag.contact_id)
    query = (
        select(ContactValuedTag.value, contacts)
        .where(ContactValuedTag.org_id == org_id, ContactValuedTag.key == key)
        .group_by(ContactValuedTag.value)
        .order_by(contacts.desc(), ContactValuedTag.value)
        .limit(limit)
    )
    if prefix:
        query = query.where(ContactValuedTag.value.startswith(prefix, autoescape=True))
    return [(value, count) for value, count in await session.execute(query)]


async def valued_tag_counts(session: AsyncSession, *, org_id: int) -> list[tuple[str, int]]:
    query = (
        select(ContactValuedTag.key, func.count(ContactValuedTag.contact_id))
        .where(ContactValuedTag.org_id == org_id)
        .group_by(ContactValuedTag.key)
        .order_by(ContactValuedTag.key)
    )
    return [(key, count) for key, count in await session.execute(query)]
