"""Every query on WhatsApp numbers. All but the webhook lookups are scoped to one organization."""

from __future__ import annotations

from sqlalchemy import or_, select, update
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


async def verify_token_digest_exists(session: AsyncSession, *, digest: str) -> bool:
    """Across organizations, for the webhook handshake (which names no number)."""
    query = select(WhatsAppNumber.id).where(WhatsAppNumber.verify_token_digest == digest).limit(1)
    return (await session.execute(query)).first() is not None


async def verify_tokens_to_digest(session: AsyncSession, *, key_id: str, every: bool) -> list[tuple[int, str]]:
    """(id, encrypted verify token) of numbers whose digest is missing or not keyed by `key_id` (`every`: all)."""
    query = select(WhatsAppNumber.id, WhatsAppNumber.verify_token_enc).order_by(WhatsAppNumber.id)
    if not every:
        digest = WhatsAppNumber.verify_token_digest
        query = query.where(or_(digest.is_(None), ~digest.startswith(f"{key_id}:", autoescape=True)))
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


async def set_verify_token_digest(session: AsyncSession, *, number_id: int, digest: str) -> None:
    query = update(WhatsAppNumber).where(WhatsAppNumber.id == number_id).values(verify_token_digest=digest)
    await session.execute(query.execution_options(synchronize_session=False))


async def phone_number_id_taken(session: AsyncSession, *, phone_number_id: str, except_id: int | None = None) -> bool:
    query = select(WhatsAppNumber.id).where(WhatsAppNumber.phone_number_id == phone_number_id)
    if except_id is not None:
        query = query.where(WhatsAppNumber.id != except_id)
    return (await session.execute(query.limit(1))).first() is not None
