from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.models import ApiKey, User


async def api_key_by_digest(session: AsyncSession, *, digest: str) -> ApiKey | None:
    return (await session.execute(select(ApiKey).where(ApiKey.digest == digest))).scalar_one_or_none()


async def touch_api_key(session: AsyncSession, *, api_key_id: int, at: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == api_key_id).values(last_used_at=at))


async def user_by_email(session: AsyncSession, *, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()


async def list_api_keys(session: AsyncSession, *, org_id: int) -> list[ApiKey]:
    rows = await session.execute(select(ApiKey).where(ApiKey.org_id == org_id).order_by(ApiKey.id))
    return list(rows.scalars())


async def list_users(session: AsyncSession, *, org_id: int) -> list[User]:
    return list((await session.execute(select(User).where(User.org_id == org_id).order_by(User.id))).scalars())
