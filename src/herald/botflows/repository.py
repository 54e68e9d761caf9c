"""Every query on bot flows, scoped to one organization unless it says otherwise."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import BotFlow


async def get(session: AsyncSession, *, org_id: int, bot_flow_id: int) -> BotFlow | None:
    query = select(BotFlow).where(BotFlow.org_id == org_id, BotFlow.id == bot_flow_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_any_org(session: AsyncSession, *, bot_flow_id: int) -> BotFlow | None:
    """For the delivery engine, which holds a bot-flow id taken from an already-scoped campaign."""
    return (await session.execute(select(BotFlow).where(BotFlow.id == bot_flow_id))).scalar_one_or_none()


async def list_page(session: AsyncSession, *, org_id: int, after_id: int, limit: int) -> list[BotFlow]:
    query = (
        select(BotFlow)
        .where(BotFlow.org_id == org_id, BotFlow.id > after_id)
        .order_by(BotFlow.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
