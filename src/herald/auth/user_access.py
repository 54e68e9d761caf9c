"""Taking access away: a user's role, deactivation, deletion and password.

- Deactivating, deleting, or an admin setting a new password ends every UI session of the user in
  the same transaction; changing your own password ends your other sessions and keeps this one.
  An inactive user cannot sign in (``herald.web.sessions``). A role change needs no such step: each
  request reads the role afresh.
- An organization keeps at least one active admin user: a change that would leave none is
  refused (409 ``last_admin``), whoever asks, so nobody locks the organization out of its settings.
- API keys belong to the organization, not to the user who created them, and are not touched here:
  revoke them on their own (``service.revoke_api_key``).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth import repository
from herald.auth.principal import Role
from herald.kit.crypto import hash_password, verify_password
from herald.kit.errors import Conflict, Invalid, NotFound
from herald.models import User

MIN_PASSWORD_LENGTH = 8


def check_new_password(password: str, *, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"a password must be at least {MIN_PASSWORD_LENGTH} characters", field=field)


async def _locked_user(session: AsyncSession, *, org_id: int, user_id: int) -> User:
    await repository.lock_org_users(session, org_id=org_id)
    user = await repository.user_of_org(session, org_id=org_id, user_id=user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def _keep_an_admin(session: AsyncSession, user: User) -> None:
    if await repository.count_active_admins(session, org_id=user.org_id, besides=user.id) == 0:
        raise Conflict(
            f"{user.email} is the organization's last active admin: make another user an admin first",
            code="last_admin",
        )


async def update_user(
    session: AsyncSession, *, org_id: int, user_id: int,
    role: Role | None = None, active: bool | None = None, password: str | None = None,
) -> User:
    """Change what is given; ``password`` is an admin's reset. Ends the user's sessions when
    deactivated or given a new password."""
    new_hash = None
    if password is not None:
        check_new_password(password)
        new_hash = await hash_password(password)  # before the lock: it takes a tenth of a second
    user = await _locked_user(session, org_id=org_id, user_id=user_id)
    stays_admin = (role or Role(user.role)) is Role.admin and (user.active if active is None else active)
    if user.role == Role.admin.value and user.active and not stays_admin:
        await _keep_an_admin(session, user)
    if role is not None:
        user.role = role.value
    if active is not None:
        user.active = active
    if new_hash is not None:
        user.password_hash = new_hash
    if not user.active or new_hash is not None:
        await repository.delete_web_sessions(session, user_id=user.id)
    await session.flush()
    return user


async def delete_user(session: AsyncSession, *, org_id: int, user_id: int) -> None:
    """Gone for good, sessions included. API keys stay (they belong to the organization)."""
    user = await _locked_user(session, org_id=org_id, user_id=user_id)
    if user.role == Role.admin.value and user.active:
        await _keep_an_admin(session, user)
    await repository.delete_web_sessions(session, user_id=user.id)
    await session.delete(user)
    await session.flush()


async def password_matches(session: AsyncSession, *, user_id: int, password: str) -> bool:
    user = await session.get(User, user_id)
    return await verify_password(user.password_hash if user else None, password)


async def change_own_password(session: AsyncSession, *, user_id: int, new_password: str, keep_session: str) -> int:
    """Set a signed-in user's new password (the current one checked by the caller with
    ``password_matches``); ends their other sessions and returns how many."""
    check_new_password(new_password, field="new_password")
    new_hash = await hash_password(new_password)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user not found")
    user.password_hash = new_hash
    ended = await repository.delete_web_sessions(session, user_id=user_id, keep=keep_session)
    await session.flush()
    return ended
