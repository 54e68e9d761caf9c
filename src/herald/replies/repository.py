"""Every query of the replies domain (the per-dialect delivery claim lives in ``claim.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, Table, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from herald.campaigns.lifecycle import RUNNING
from herald.contacts.rules import phone_part_of_search
from herald.kit.dialect import insert, is_postgres
from herald.kit.types import utcnow
from herald.models import (
    BotDelivery,
    Campaign,
    CampaignMessage,
    Contact,
    ContactTag,
    ContactValuedTag,
    Engagement,
    FunnelEvent,
    InboundMessage,
    Tag,
    WhatsAppNumber,
)

_messages: Table = CampaignMessage.__table__  # type: ignore[assignment]
_contacts: Table = Contact.__table__  # type: ignore[assignment]


async def numbers_by_phone_number_id(session: AsyncSession, phone_number_ids: set[str]) -> dict[str, WhatsAppNumber]:
    if not phone_number_ids:
        return {}
    rows = await session.execute(select(WhatsAppNumber).where(WhatsAppNumber.phone_number_id.in_(phone_number_ids)))
    return {n.phone_number_id: n for n in rows.scalars()}


async def contact_id_for_sender(
    session: AsyncSession, *, org_id: int, wa_id: str | None, user_id: str | None
) -> int | None:
    """The contact who wrote: by phone (``+`` + wa_id) first, else by the business-scoped user id."""
    if wa_id:
        found = (await session.execute(
            select(Contact.id).where(Contact.org_id == org_id, Contact.phone == "+" + wa_id)
        )).scalar_one_or_none()
        if found is not None:
            return found
    if user_id:
        return (await session.execute(
            select(Contact.id).where(Contact.org_id == org_id, Contact.wa_user_id == user_id).order_by(Contact.id).limit(1)
        )).scalar_one_or_none()
    return None


async def remember_user_id(session: AsyncSession, *, contact_id: int, user_id: str) -> None:
    """Keeps the first BSUID seen for a contact, so a later username-only message still matches;
    left alone when another contact of the organization already holds that id (a person merges them)."""
    other = aliased(Contact)
    held = exists().where(other.org_id == Contact.org_id, other.wa_user_id == user_id)
    await session.execute(
        update(Contact).where(Contact.id == contact_id, Contact.wa_user_id.is_(None), ~held).values(wa_user_id=user_id)
        .execution_options(synchronize_session=False)
    )


async def remember_user_ids(session: AsyncSession, pairs: dict[int, str]) -> None:
    """``remember_user_id`` for many contacts (contact id → user id), one executemany."""
    if not pairs:
        return
    # Core, not ORM: an executemany of an ORM UPDATE would be a bulk update by primary key.
    other = _contacts.alias("other")
    held = exists().where(other.c.org_id == _contacts.c.org_id, other.c.wa_user_id == bindparam("_user_id"))
    stmt = (
        update(_contacts).where(_contacts.c.id == bindparam("_contact_id"), _contacts.c.wa_user_id.is_(None), ~held)
        .values(wa_user_id=bindparam("_user_id"))
    )
    await session.execute(stmt, [{"_contact_id": c, "_user_id": u} for c, u in sorted(pairs.items())])


def _message_query(session: AsyncSession) -> Any:
    # populate_existing: the status handler may have moved the row with a core UPDATE in this session.
    stmt = select(CampaignMessage).execution_options(populate_existing=True)
    return stmt.with_for_update(of=CampaignMessage) if is_postgres(session) else stmt


async def campaign_message_by_wamid(session: AsyncSession, *, org_id: int, wamid: str) -> CampaignMessage | None:
    stmt = (
        _message_query(session)
        .join(Campaign, Campaign.id == CampaignMessage.campaign_id)
        .where(CampaignMessage.wamid == wamid, Campaign.org_id == org_id)
        .order_by(CampaignMessage.id)
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()  # type: ignore[no-any-return]


async def campaign_message_of(session: AsyncSession, *, campaign_id: int, contact_id: int) -> CampaignMessage | None:
    stmt = _message_query(session).where(
        CampaignMessage.campaign_id == campaign_id, CampaignMessage.contact_id == contact_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()  # type: ignore[no-any-return]


async def engaged_campaign_id(session: AsyncSession, *, contact_id: int) -> int | None:
    """The running campaign the contact is engaged in, if any."""
    stmt = (
        select(Engagement.campaign_id)
        .join(Campaign, Campaign.id == Engagement.campaign_id)
        .where(Engagement.contact_id == contact_id, Campaign.status.in_(RUNNING))
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def campaign(session: AsyncSession, *, org_id: int, campaign_id: int) -> Campaign | None:
    stmt = select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def contact_card(session: AsyncSession, *, contact_id: int) -> dict[str, Any]:
    """The contact as a bot flow sees it: id, phone (None for a username user), WhatsApp user id, name,
    tags and valued tags."""
    contact = (await session.execute(
        select(Contact.id, Contact.phone, Contact.wa_user_id, Contact.name).where(Contact.id == contact_id)
    )).one()
    tags = (await session.execute(
        select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id)
        .where(ContactTag.contact_id == contact_id).order_by(Tag.name)
    )).scalars().all()
    valued = (await session.execute(
        select(ContactValuedTag.key, ContactValuedTag.value)
        .where(ContactValuedTag.contact_id == contact_id).order_by(ContactValuedTag.key)
    )).all()
    return {"id": contact.id, "phone": contact.phone, "wa_user_id": contact.wa_user_id, "name": contact.name,
            "tags": list(tags),
            "valued_tags": {key: value for key, value in valued}}


async def insert_inbound(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Stores an inbound message once (unique wamid): its id, or None when it was already there."""
    stmt = insert(session, InboundMessage).values(received_at=utcnow(), **values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["wamid"]).returning(InboundMessage.id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def record_reply(session: AsyncSession, *, message_id: int, old_status: str, changes: dict[str, Any]) -> bool:
    """Conditional on the status it was read with; the row is locked, so a miss means a bug upstream."""
    result = await session.execute(
        update(CampaignMessage)
        .where(CampaignMessage.id == message_id, CampaignMessage.status == old_status)
        .values(**changes)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def set_opted_out(session: AsyncSession, *, contact_id: int, at: datetime, reason: str | None = None) -> bool:
    """True when the contact was not opted out before."""
    result = await session.execute(
        update(Contact).where(Contact.id == contact_id, Contact.opted_out_at.is_(None))
        .values(opted_out_at=at, opted_out_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def clear_opted_out(session: AsyncSession, *, contact_id: int, at: datetime) -> bool:
    """True when the contact was opted out (by a stop older than ``at``) and no longer is."""
    # Only a stop older than the resume is undone: a resume delivered late must not cancel a newer stop.
    result = await session.execute(
        update(Contact).where(Contact.id == contact_id, Contact.opted_out_at <= at)
        .values(opted_out_at=None, opted_out_reason=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def targeted_contact_id(
    session: AsyncSession, *, org_id: int, campaign_id: int, contact_id: int | None, phone: str | None
) -> int | None:
    """The contact, if it is one of the campaign's targeted contacts (has a campaign message)."""
    stmt = (
        select(Contact.id)
        .join(CampaignMessage, CampaignMessage.contact_id == Contact.id)
        .where(Contact.org_id == org_id, CampaignMessage.campaign_id == campaign_id)
    )
    stmt = stmt.where(Contact.id == contact_id) if contact_id is not None else stmt.where(Contact.phone == phone)
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_funnel_event(session: AsyncSession, *, campaign_id: int, contact_id: int, step: str,
                              at: datetime) -> bool:
    """Idempotent per (campaign, contact, step): a repeat keeps the first time. True if it was new."""
    stmt = insert(session, FunnelEvent).values(campaign_id=campaign_id, contact_id=contact_id, step=step, at=at)
    stmt = stmt.on_conflict_do_nothing(index_elements=["campaign_id", "contact_id", "step"])
    return (await session.execute(stmt.returning(FunnelEvent.step))).first() is not None


async def funnel_event_at(session: AsyncSession, *, campaign_id: int, contact_id: int, step: str) -> datetime:
    stmt = select(FunnelEvent.at).where(
        FunnelEvent.campaign_id == campaign_id, FunnelEvent.contact_id == contact_id, FunnelEvent.step == step
    )
    return (await session.execute(stmt)).scalar_one()


async def funnel_counts(session: AsyncSession, *, campaign_id: int) -> list[Row[str, int, datetime]]:
    contacts = func.count().label("contacts")
    first = func.min(FunnelEvent.at).label("first_at")
    stmt = (
        select(FunnelEvent.step, contacts, first)
        .where(FunnelEvent.campaign_id == campaign_id)
        .group_by(FunnelEvent.step)
        .order_by(contacts.desc(), first, FunnelEvent.step)
    )
    return list((await session.execute(stmt)).all())


async def number_of_org(session: AsyncSession, *, org_id: int, number_id: int) -> WhatsAppNumber | None:
    stmt = select(WhatsAppNumber).where(WhatsAppNumber.id == number_id, WhatsAppNumber.org_id == org_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def last_inbound_at(session: AsyncSession, *, number_id: int, wa_id: str, contact_id: int | None) -> datetime | None:
    """When the user last wrote to this number: by contact (indexed), or by phone for an unknown sender."""
    sender = InboundMessage.contact_id == contact_id if contact_id is not None else InboundMessage.from_wa_id == wa_id
    stmt = select(func.max(InboundMessage.sent_at)).where(sender, InboundMessage.whatsapp_number_id == number_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def contact_id_by_phone(session: AsyncSession, *, org_id: int, phone: str) -> int | None:
    stmt = select(Contact.id).where(Contact.org_id == org_id, Contact.phone == phone)
    return (await session.execute(stmt)).scalar_one_or_none()


async def contact_id_by_user_id(session: AsyncSession, *, org_id: int, user_id: str) -> int | None:
    stmt = select(Contact.id).where(Contact.org_id == org_id, Contact.wa_user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_deliveries(
    session: AsyncSession, *, org_id: int, status: str | None, campaign_id: int | None, after_id: int, limit: int
) -> list[BotDelivery]:
    stmt = select(BotDelivery).where(BotDelivery.org_id == org_id, BotDelivery.id > after_id)
    if status is not None:
        stmt = stmt.where(BotDelivery.status == status)
    if campaign_id is not None:
        stmt = stmt.where(BotDelivery.campaign_id == campaign_id)
    return list((await session.execute(stmt.order_by(BotDelivery.id).limit(limit))).scalars())


async def insert_delivery(session: AsyncSession, **values: Any) -> None:
    """One statement per delivery: ids then follow the order replies were applied in (the per-contact order)."""
    await session.execute(insert(session, BotDelivery).values(**values))


@dataclass(frozen=True, slots=True)
class ReceivedFilter:
    campaign_id: int | None = None
    contact_id: int | None = None
    q: str | None = None  # part of the text, of the contact's name or phone, or of the sender's number
    unrouted: bool = False  # only the messages no bot flow has received (none forwarded, not delivered yet, given up)


@dataclass(frozen=True, slots=True)
class ReceivedRow:
    message: InboundMessage
    contact_name: str | None
    contact_phone: str | None
    campaign_name: str | None
    delivery: BotDelivery | None


def _received_conditions(org_id: int, where: ReceivedFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [InboundMessage.org_id == org_id]
    if where.campaign_id is not None:
        conditions.append(InboundMessage.campaign_id == where.campaign_id)
    if where.contact_id is not None:
        conditions.append(InboundMessage.contact_id == where.contact_id)
    if where.unrouted:
        conditions.append(or_(BotDelivery.id.is_(None), BotDelivery.status != "delivered"))
    if where.q:
        digits = phone_part_of_search(where.q).lstrip("+")
        matches = [InboundMessage.text.icontains(where.q, autoescape=True),
                   Contact.name.icontains(where.q, autoescape=True)]
        if digits:
            matches += [Contact.phone.contains(digits, autoescape=True),
                        InboundMessage.from_wa_id.contains(digits, autoescape=True)]
        conditions.append(or_(*matches))
    return conditions


async def received_messages(
    session: AsyncSession, *, org_id: int, where: ReceivedFilter, before_id: int | None, limit: int
) -> list[ReceivedRow]:
    """Inbound messages newest first (by id, the order they were stored in), with their contact,
    campaign and bot delivery, in one query."""
    stmt = (
        select(InboundMessage, Contact.name, Contact.phone, Campaign.name, BotDelivery)
        .outerjoin(Contact, Contact.id == InboundMessage.contact_id)
        .outerjoin(Campaign, Campaign.id == InboundMessage.campaign_id)
        .outerjoin(BotDelivery, BotDelivery.inbound_message_id == InboundMessage.id)
        .where(*_received_conditions(org_id, where))
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(InboundMessage.id < before_id)
    return [ReceivedRow(m, name, phone, campaign, delivery) for m, name, phone, campaign, delivery in await session.execute(stmt)]
