"""Every query of the contacts domain except the bulk upserts (see ``upsert.py``). All org-scoped."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, delete, exists, func, literal, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.contacts.audience_lock import hold_audience_lock
from herald.contacts.rules import phone_part_of_search
from herald.kit.dialect import insert, is_postgres
from herald.kit.errors import Conflict
from herald.kit.types import utcnow
from herald.models import (
    Campaign,
    CampaignMessage,
    CampaignNotSentReason,
    CampaignStats,
    Contact,
    ContactTag,
    ContactValuedTag,
    Engagement,
    InboundMessage,
    Tag,
)
from herald.models.campaign_message import HELD, NOT_YET_SENT

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]
_contact_tags: Table = ContactTag.__table__  # type: ignore[assignment]
# The not-sent reason a campaign counts for a message its contact was deleted before it was sent.
DELETED_REASON = "contact deleted before the message was sent"


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
    phone_q = phone_part_of_search(q)
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


async def list_contacts_before(
    session: AsyncSession, *, org_id: int, where: ContactFilter, before_id: int, limit: int
) -> list[Contact]:
    """The ``limit`` contacts just before ``before_id``, nearest first (a previous page, reversed)."""
    query = (
        select(Contact)
        .where(*_conditions(org_id, where), Contact.id < before_id)
        .order_by(Contact.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def count_contacts(session: AsyncSession, *, org_id: int, where: ContactFilter) -> int:
    query = select(func.count()).select_from(Contact).where(*_conditions(org_id, where))
    return int((await session.execute(query)).scalar_one())


async def any_contact_before(session: AsyncSession, *, org_id: int, where: ContactFilter, before_id: int) -> bool:
    query = select(Contact.id).where(*_conditions(org_id, where), Contact.id < before_id).limit(1)
    return (await session.execute(query)).first() is not None


async def matching_ids(
    session: AsyncSession, *, org_id: int, where: ContactFilter, after_id: int, limit: int,
    among: Collection[int] | None = None,
) -> list[int]:
    """The next ``limit`` ids matching ``where`` (and in ``among`` when given), ascending: one chunk."""
    query = select(Contact.id).where(*_conditions(org_id, where), Contact.id > after_id)
    if among is not None:
        query = query.where(Contact.id.in_(list(among)))
    return list((await session.execute(query.order_by(Contact.id).limit(limit))).scalars())


async def add_tags_to(session: AsyncSession, *, contact_ids: Collection[int], tag_ids: Collection[int],
                      max_tags: int) -> int:
    """Tags the chunk's contacts in one INSERT … SELECT; a contact that would then hold more than
    ``max_tags`` tags is left as it is. Returns how many (contact, tag) pairs were added."""
    ids, new = list(contact_ids), list(tag_ids)
    others = (
        select(func.count()).select_from(ContactTag)
        .where(ContactTag.contact_id == Contact.id, ContactTag.tag_id.not_in(new))
        .scalar_subquery()
    )
    pairs = (
        select(Contact.id, Tag.id)
        .select_from(Contact).join(Tag, true())  # every (contact, tag) pair of the chunk
        .where(Contact.id.in_(ids), Tag.id.in_(new), others + literal(len(new)) <= max_tags)
    )
    stmt = insert(session, _contact_tags).from_select(["contact_id", "tag_id"], pairs).on_conflict_do_nothing()
    # Counted from RETURNING: psycopg reports no row count for an INSERT … SELECT here.
    added = len((await session.execute(stmt.returning(_contact_tags.c.contact_id))).all())
    await _touch(session, ids)
    return added


async def count_over_tag_limit(session: AsyncSession, *, contact_ids: Collection[int], tag_ids: Collection[int],
                               max_tags: int) -> int:
    """How many of these contacts ``add_tags_to`` leaves as they are (they would hold too many tags)."""
    new = list(tag_ids)
    others = (
        select(func.count()).select_from(ContactTag)
        .where(ContactTag.contact_id == Contact.id, ContactTag.tag_id.not_in(new))
        .scalar_subquery()
    )
    query = select(func.count()).select_from(Contact).where(
        Contact.id.in_(list(contact_ids)), others + literal(len(new)) > max_tags
    )
    return int((await session.execute(query)).scalar_one())


async def remove_tags_from(session: AsyncSession, *, contact_ids: Collection[int], tag_ids: Collection[int]) -> int:
    """Untags the chunk's contacts in one DELETE; returns how many (contact, tag) pairs went."""
    ids = list(contact_ids)
    stmt = delete(ContactTag).where(ContactTag.contact_id.in_(ids), ContactTag.tag_id.in_(list(tag_ids)))
    removed = int((await session.execute(stmt.execution_options(synchronize_session=False))).rowcount)  # type: ignore[attr-defined]
    await _touch(session, ids)
    return removed


async def _touch(session: AsyncSession, contact_ids: list[int]) -> None:
    await session.execute(
        update(Contact).where(Contact.id.in_(contact_ids)).values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def tag_ids_by_name(session: AsyncSession, *, org_id: int, names: Collection[str]) -> list[int]:
    query = select(Tag.id).where(Tag.org_id == org_id, Tag.name.in_(list(names)))
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


class BeingSent(Conflict):
    code = "contact_being_sent"


async def delete_contact(session: AsyncSession, *, org_id: int, contact_id: int) -> bool:
    """Deletes the contact with its engagement and campaign messages, which have no foreign key to
    ``contacts`` (for the speed of materialising audiences) and so no cascade to do it.

    A message not sent yet is counted as not sent (``DELETED_REASON``) in its campaign's numbers, so
    the campaign still drains and ends. A message a sender holds right now (claimed or sending) makes
    the deletion wait: ``BeingSent`` (409), to try again in a few seconds (docs/design.md, "Contacts
    and Replies")."""
    if is_postgres(session):
        # Waits for a materialising chunk that may have read this contact, and holds the next ones
        # off until this commits, so none can insert a row for it after the deletes below.
        await hold_audience_lock(session, org_id=org_id, exclusive=True)
    result = await session.execute(delete(Contact).where(Contact.org_id == org_id, Contact.id == contact_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    # Through the (campaign_id, contact_id) unique key, one probe per campaign of the organization.
    # Lock order (herald.campaigns.counters): the messages, then each campaign's counters, then the engagement.
    campaign_ids = select(Campaign.id).where(Campaign.org_id == org_id).scalar_subquery()
    mine = (_messages.c.campaign_id.in_(campaign_ids)) & (_messages.c.contact_id == contact_id)
    held = select(_messages.c.campaign_id).where(mine, _messages.c.status.in_([s.value for s in HELD]))
    if (campaign_id := (await session.execute(held.with_for_update() if is_postgres(session) else held)).scalar()):
        raise BeingSent(
            f"campaign {campaign_id} is sending its message to this contact right now; try again in a few seconds",
            details={"campaign_id": campaign_id},
        )
    gone = await session.execute(delete(_messages).where(mine).returning(_messages.c.campaign_id, _messages.c.status))
    unsent = Counter(c for c, status in gone.all() if status in NOT_YET_SENT)
    for campaign_id in sorted(unsent):
        await _count_not_sent(session, campaign_id=campaign_id, count=unsent[campaign_id])
    await session.execute(delete(Engagement).where(Engagement.contact_id == contact_id))
    return True


async def _count_not_sent(session: AsyncSession, *, campaign_id: int, count: int) -> None:
    """``pending`` → ``not_sent`` with ``DELETED_REASON`` in a campaign's counters. Written here, not
    with herald.campaigns.counters, because the campaigns package imports this one."""
    await session.execute(
        update(CampaignStats).where(CampaignStats.campaign_id == campaign_id)
        .values(pending=CampaignStats.pending - count, not_sent=CampaignStats.not_sent + count)
    )
    stmt = insert(session, CampaignNotSentReason).values(campaign_id=campaign_id, reason=DELETED_REASON, count=count)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "reason"], set_={"count": CampaignNotSentReason.count + count}
    ))


@dataclass(frozen=True, slots=True)
class Engaged:
    campaign_id: int
    campaign_name: str | None
    campaign_status: str
    engaged_at: datetime


async def engagement_of(session: AsyncSession, *, contact_id: int) -> Engaged | None:
    """The campaign the contact is engaged in (at most one at a time), if any."""
    query = (
        select(Engagement.campaign_id, Campaign.name, Campaign.status, Engagement.engaged_at)
        .join(Campaign, Campaign.id == Engagement.campaign_id)
        .where(Engagement.contact_id == contact_id)
    )
    row = (await session.execute(query)).first()
    return Engaged(*row) if row is not None else None


async def campaign_messages_of(
    session: AsyncSession, *, org_id: int, contact_id: int, limit: int
) -> list[tuple[CampaignMessage, str | None, str, str]]:
    """The contact's campaign messages, newest campaign first, with the campaign's name, status and kind."""
    query = (
        select(CampaignMessage, Campaign.name, Campaign.status, Campaign.kind)
        .join(Campaign, Campaign.id == CampaignMessage.campaign_id)
        .where(Campaign.org_id == org_id, CampaignMessage.contact_id == contact_id)
        .order_by(Campaign.id.desc())
        .limit(limit)
    )
    return [(m, name, status, kind) for m, name, status, kind in await session.execute(query)]


async def inbound_of_campaigns(
    session: AsyncSession, *, contact_id: int, campaign_ids: Collection[int], limit: int
) -> list[InboundMessage]:
    """What the contact sent that was attributed to these campaigns, oldest first."""
    if not campaign_ids:
        return []
    query = (
        select(InboundMessage)
        .where(InboundMessage.contact_id == contact_id, InboundMessage.campaign_id.in_(list(campaign_ids)))
        .order_by(InboundMessage.sent_at, InboundMessage.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


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
