"""UI sign-in: server-side sessions and CSRF tokens.

The ``herald_session`` cookie holds a random token; the ``web_sessions`` row is keyed by an HMAC of
it keyed by ``HERALD_SECRET_KEY``, so a leaked database row cannot be replayed as a cookie, and
changing the secret key ends every session. Each session carries its own CSRF token, which every
form posts back (hidden field) and htmx sends as ``X-CSRF-Token``. A session is honoured only while
its user is active; deactivating or deleting a user also deletes their sessions
(``herald.auth.user_access``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth.principal import Principal, Role
from herald.kit.crypto import verify_password
from herald.kit.db import Database
from herald.kit.types import utcnow
from herald.models import Organization, User, WebSession
from herald.web.login_throttle import LoginThrottle

SESSION_COOKIE = "herald_session"
LOGIN_CSRF_COOKIE = "herald_login_csrf"
SESSION_LIFETIME = timedelta(hours=12)
# A session used after half its life is extended, so an active user is not signed out mid-task.
RENEW_AFTER = SESSION_LIFETIME / 2
LOGIN_FAILED = "Wrong email or password."


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in user of a UI request."""

    principal: Principal
    user_id: int
    email: str
    org_name: str
    csrf_token: str
    session_id: str  # the row's key (an HMAC of the cookie token), to keep this session when ending others

    @property
    def can_write(self) -> bool:
        return self.principal.can_write

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


def session_id(secret_key: str, token: str) -> str:
    return hmac.new(secret_key.encode(), b"herald-session:" + token.encode(), hashlib.sha256).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


async def log_in(
    database: Database, *, throttle: LoginThrottle, address: str, email: str, password: str, secret_key: str
) -> str | None:
    """The new session's cookie token, or None: no such user, a wrong password or an inactive user.

    Each of those takes one argon2 check (against a dummy hash when there is no such user) and
    gives the same answer, so neither the answer nor its time tells which emails exist. Raises
    ``TooManyRequests`` when the address or the account has failed too often (``login_throttle``).
    The password is checked outside any transaction, so a flood of logins holds no database lock.
    """
    email = email.strip().lower()
    with throttle.attempt(address=address, account=email) as attempt:
        async with database.read_session() as session:
            stmt = select(User.id, User.password_hash, User.active).where(User.email == email)
            row = (await session.execute(stmt)).first()
        matches = await verify_password(row.password_hash if row else None, password)
        if row is None or not matches or not row.active:
            attempt.failed()
            return None
        attempt.succeeded()
    token = secrets.token_urlsafe(32)
    try:
        async with database.unlocked_session() as session:
            session.add(WebSession(id=session_id(secret_key, token), user_id=row.id, csrf_token=new_csrf_token(),
                                   expires_at=utcnow() + SESSION_LIFETIME))
    except IntegrityError:  # the user was deleted while the password was being checked
        return None
    return token


async def log_out(session: AsyncSession, *, token: str, secret_key: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.id == session_id(secret_key, token)))


async def signed_in_user(session: AsyncSession, *, token: str | None, secret_key: str) -> WebUser | None:
    """The user behind a session cookie, or None when it is missing, unknown, expired or its user inactive."""
    if not token or len(token) > 200:
        return None
    stmt = (
        select(WebSession, User, Organization.name)
        .join(User, User.id == WebSession.user_id)
        .join(Organization, Organization.id == User.org_id)
        .where(WebSession.id == session_id(secret_key, token))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    web_session, user, org_name = row
    now = utcnow()
    if web_session.expires_at <= now or not user.active:
        await session.delete(web_session)
        return None
    if web_session.expires_at - now < RENEW_AFTER:
        web_session.expires_at = now + SESSION_LIFETIME
    principal = Principal(org_id=user.org_id, role=Role(user.role), user_id=user.id)
    return WebUser(principal=principal, user_id=user.id, email=user.email, org_name=org_name,
                   csrf_token=web_session.csrf_token, session_id=web_session.id)
