from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.principal import Role
from herald.models import ApiKey, Organization, User, WebSession


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


async def user_of_org(session: AsyncSession, *, org_id: int, user_id: int) -> User | None:
    stmt = select(User).where(User.id == user_id, User.org_id == org_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def lock_org_users(session: AsyncSession, *, org_id: int) -> None:
    """Serialise changes to an organization's users until the transaction ends (PostgreSQL: a row
    lock on the organization that rows referencing it do not wait for; SQLite writes are serial)."""
    await session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update(key_share=True))


async def count_active_admins(session: AsyncSession, *, org_id: int, besides: int) -> int:
    """Active admin users of the organization other than user ``besides``."""
    stmt = select(func.count()).select_from(User).where(
        User.org_id == org_id, User.role == Role.admin.value, User.active.is_(True), User.id != besides
    )
    return int((await session.execute(stmt)).scalar_one())


async def delete_web_sessions(session: AsyncSession, *, user_id: int, keep: str | None = None) -> int:
    """End a user's UI sessions (all but ``keep``, a session id); how many there were."""
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(WebSession.id != keep)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
