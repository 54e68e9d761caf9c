"""Organizations' users and API keys."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth import repository
from herald.auth.principal import Principal, Role
from herald.auth.user_access import check_new_password
from herald.kit.crypto import api_key_digest, hash_password, new_api_key
from herald.kit.errors import Conflict, Invalid, NotFound, Unauthorized
from herald.kit.types import utcnow
from herald.models import ApiKey, Organization, User

# A key's last-used time is written at most this often, so reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:64] or "org"


async def create_org(session: AsyncSession, *, name: str, secret_key: str) -> Organization:
    slug = slugify(name)
    if (await session.execute(select(Organization.id).where(Organization.slug == slug))).first():
        raise Conflict(f"an organization with slug '{slug}' already exists", code="org_exists")
    org = Organization(name=name, slug=slug)
    session.add(org)
    await session.flush()
    return org


async def org_by_slug(session: AsyncSession, *, slug: str) -> Organization:
    org = (await session.execute(select(Organization).where(Organization.slug == slug))).scalar_one_or_none()
    if org is None:
        raise NotFound(f"no organization with slug '{slug}'")
    return org


async def create_user(session: AsyncSession, *, org_id: int, email: str, password: str, role: Role) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid("email is not an email address", field="email")
    check_new_password(password)
    password_hash = await hash_password(password)
    if await repository.user_by_email(session, email=email):
        raise Conflict(f"a user with email {email} already exists", code="user_exists")
    user = User(org_id=org_id, email=email, password_hash=password_hash, role=role.value)
    session.add(user)
    await session.flush()
    return user


async def create_api_key(
    session: AsyncSession, *, org_id: int, role: Role, name: str, secret_key: str
) -> tuple[ApiKey, str]:
    """Returns the row and the key itself, which is never stored and cannot be shown again."""
    key = new_api_key()
    row = ApiKey(org_id=org_id, role=role.value, name=name, digest=api_key_digest(secret_key, key), prefix=key[:12])
    session.add(row)
    await session.flush()
    return row, key


async def revoke_api_key(session: AsyncSession, *, org_id: int, api_key_id: int) -> ApiKey:
    row = await session.get(ApiKey, api_key_id)
    if row is None or row.org_id != org_id:
        raise NotFound("API key not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    await session.flush()
    return row


async def authenticate_api_key(session: AsyncSession, *, api_key: str, secret_key: str) -> Principal:
    row = await repository.api_key_by_digest(session, digest=api_key_digest(secret_key, api_key))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("the API key is missing, wrong or revoked", code="invalid_api_key")
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        await repository.touch_api_key(session, api_key_id=row.id, at=now)
    return Principal(org_id=row.org_id, role=Role(row.role), api_key_id=row.id)
