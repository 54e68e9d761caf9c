"""UI sign-in: server-side sessions, CSRF tokens and login throttling.

The ``herald_session`` cookie holds a random token; the ``web_sessions`` row is keyed by its
SHA-256, so a leaked database row cannot be replayed as a cookie. Each session carries its own
CSRF token, which every form posts back (hidden field) and htmx sends as ``X-CSRF-Token``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.auth import repository as auth_repository
from herald.auth.principal import Principal, Role
from herald.kit.crypto import hash_password, verify_password
from herald.kit.types import utcnow
from herald.models import Organization, User, WebSession

SESSION_COOKIE = "herald_session"
LOGIN_CSRF_COOKIE = "herald_login_csrf"
SESSION_LIFETIME = timedelta(hours=12)
# A session used after half its life is extended, so an active user is not signed out mid-task.
RENEW_AFTER = SESSION_LIFETIME / 2
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=5)
LOGIN_FAILED = "Wrong email or password, or too many attempts: try again in a few minutes."
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = hash_password("not-a-real-password")


@dataclass(frozen=True, slots=True)
class WebUser:
    """The signed-in user of a UI request."""

    principal: Principal
    user_id: int
    email: str
    org_name: str
    csrf_token: str

    @property
    def can_write(self) -> bool:
        return self.principal.can_write

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


async def log_in(session: AsyncSession, *, email: str, password: str) -> str | None:
    """The new session's cookie token, or None: wrong email or password, or the user is locked out.

    After ``MAX_FAILED_LOGINS`` failures in a row the user is locked for ``LOCKOUT``; the message
    is the same in every case so it does not reveal which emails exist.
    """
    user = await auth_repository.user_by_email(session, email=email.strip().lower())
    now = utcnow()
    if user is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        return None
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        await session.flush()
        return None
    user.failed_logins, user.locked_until = 0, None
    token = secrets.token_urlsafe(32)
    session.add(WebSession(id=_session_id(token), user_id=user.id, csrf_token=new_csrf_token(),
                           expires_at=now + SESSION_LIFETIME))
    await session.flush()
    return token


async def log_out(session: AsyncSession, *, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.id == _session_id(token)))


async def signed_in_user(session: AsyncSession, *, token: str | None) -> WebUser | None:
    """The user behind a session cookie, or None when it is missing, unknown or expired."""
    if not token or len(token) > 200:
        return None
    stmt = (
        select(WebSession, User, Organization.name)
        .join(User, User.id == WebSession.user_id)
        .join(Organization, Organization.id == User.org_id)
        .where(WebSession.id == _session_id(token))
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    web_session, user, org_name = row
    now = utcnow()
    if web_session.expires_at <= now:
        await session.delete(web_session)
        return None
    if web_session.expires_at - now < RENEW_AFTER:
        web_session.expires_at = now + SESSION_LIFETIME
    principal = Principal(org_id=user.org_id, role=Role(user.role), user_id=user.id)
    return WebUser(principal=principal, user_id=user.id, email=user.email, org_name=org_name,
                   csrf_token=web_session.csrf_token)
