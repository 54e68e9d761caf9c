"""Every query on event endpoints and their deliveries, scoped to one organization."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from herald.models import EventEndpoint, EventOutbox


async def get(session: AsyncSession, *, org_id: int, endpoint_id: int) -> EventEndpoint | None:
    query = select(EventEndpoint).where(
        EventEndpoint.org_id == org_id, EventEndpoint.id == endpoint_id, EventEndpoint.deleted_at.is_(None)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_page(session: AsyncSession, *, org_id: int, after_id: int, limit: int) -> list[EventEndpoint]:
    query = (
        select(EventEndpoint)
        .where(EventEndpoint.org_id == org_id, EventEndpoint.deleted_at.is_(None), EventEndpoint.id > after_id)
        .order_by(EventEndpoint.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def deliveries(
    session: AsyncSession, *, endpoint_id: int, status: str | None, event_id: str | None, before_id: int | None,
    limit: int,
) -> list[EventOutbox]:
    """Newest first, without their payloads; ``event_id``: the batch that holds that event, found in
    the payloads (an event's id appears quoted in its batch's JSON and nowhere else)."""
    query = select(EventOutbox).options(defer(EventOutbox.payload)).where(EventOutbox.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(EventOutbox.status == status)
    if event_id is not None:
        query = query.where(EventOutbox.payload.contains(f'"{event_id}"', autoescape=True))
    if before_id is not None:
        query = query.where(EventOutbox.id < before_id)
    return list((await session.execute(query.order_by(EventOutbox.id.desc()).limit(limit))).scalars())


async def drop_pending(session: AsyncSession, *, endpoint_id: int) -> None:
    await session.execute(
        delete(EventOutbox).where(EventOutbox.endpoint_id == endpoint_id, EventOutbox.status == "pending")
        .execution_options(synchronize_session=False)
    )
