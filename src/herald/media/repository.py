"""Every query on media. The bytes are loaded only where a re-upload needs them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from herald.models import Media

# Up to 100 MB per row: never pull the bytes along with the metadata by accident.
_WITHOUT_CONTENT = defer(Media.content, raiseload=True)


async def get(session: AsyncSession, *, org_id: int, media_row_id: int) -> Media | None:
    query = select(Media).options(_WITHOUT_CONTENT).where(Media.org_id == org_id, Media.id == media_row_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_any_org(session: AsyncSession, *, media_row_id: int) -> Media | None:
    """For the campaign engine, which holds an id taken from an already-scoped campaign."""
    query = select(Media).options(_WITHOUT_CONTENT).where(Media.id == media_row_id)
    return (await session.execute(query)).scalar_one_or_none()


async def content(session: AsyncSession, *, media_row_id: int) -> bytes:
    return (await session.execute(select(Media.content).where(Media.id == media_row_id))).scalar_one()


async def list_page(
    session: AsyncSession, *, org_id: int, whatsapp_number_id: int | None, after_id: int, limit: int
) -> list[Media]:
    query = select(Media).options(_WITHOUT_CONTENT).where(Media.org_id == org_id, Media.id > after_id)
    if whatsapp_number_id is not None:
        query = query.where(Media.whatsapp_number_id == whatsapp_number_id)
    return list((await session.execute(query.order_by(Media.id).limit(limit))).scalars())
