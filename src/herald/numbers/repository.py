"""Every query on WhatsApp numbers. All but the webhook lookups are scoped to one organization."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import WhatsAppNumber


async def get(session: AsyncSession, *, org_id: int, number_id: int) -> WhatsAppNumber | None:
    query = select(WhatsAppNumber).where(WhatsAppNumber.org_id == org_id, WhatsAppNumber.id == number_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_current(session: AsyncSession, *, org_id: int, number_id: int) -> WhatsAppNumber | None:
    """The row as committed now, locked until the transaction ends.

    For a write after a call made with no transaction open: the session may still hold the row as
    read before the call (sessions do not expire on commit), and a plain select would not refresh it.
    """
    query = (
        select(WhatsAppNumber)
        .where(WhatsAppNumber.org_id == org_id, WhatsAppNumber.id == number_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_page(session: AsyncSession, *, org_id: int, after_id: int, limit: int) -> list[WhatsAppNumber]:
    query = (
        select(WhatsAppNumber)
        .where(WhatsAppNumber.org_id == org_id, WhatsAppNumber.id > after_id)
        .order_by(WhatsAppNumber.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def by_phone_number_id(session: AsyncSession, *, phone_number_id: str) -> WhatsAppNumber | None:
    """Across organizations: a phone-number id is globally unique and webhooks route on it."""
    query = select(WhatsAppNumber).where(WhatsAppNumber.phone_number_id == phone_number_id)
    return (await session.execute(query)).scalar_one_or_none()


async def all_numbers(session: AsyncSession) -> list[WhatsAppNumber]:
    """Across organizations, for the webhook handshake (which names no number)."""
    return list((await session.execute(select(WhatsAppNumber).order_by(WhatsAppNumber.id))).scalars())


async def phone_number_id_taken(session: AsyncSession, *, phone_number_id: str, except_id: int | None = None) -> bool:
    query = select(WhatsAppNumber.id).where(WhatsAppNumber.phone_number_id == phone_number_id)
    if except_id is not None:
        query = query.where(WhatsAppNumber.id != except_id)
    return (await session.execute(query.limit(1))).first() is not None
