"""Request-scoped dependencies shared by every API module."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from herald.config import Settings
from herald.kit.crypto import SecretBox
from herald.kit.db import CAMPAIGN_STATUS_CHANGED, Database
from herald.kit.outbound import OutboundPolicy


def get_database(request: Request) -> Database:
    return request.app.state.database  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_secret_box(request: Request) -> SecretBox:
    return request.app.state.secret_box  # type: ignore[no-any-return]


def get_outbound(request: Request) -> OutboundPolicy:
    return request.app.state.outbound  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit when the handler returns, roll back on error. A
    committed change of a campaign's status is told to the worker of this process, if it runs one
    (``app.state.campaigns_changed``, ``Worker.campaigns_changed``): a pause stops the sends at once."""
    database: Database = request.app.state.database
    async with database.unlocked_session() as session:
        yield session
    changed = getattr(request.app.state, "campaigns_changed", None)
    statuses = session.info.get(CAMPAIGN_STATUS_CHANGED)
    if changed is not None and statuses:
        changed(statuses)


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.read_session() as session:
        yield session


# scope="function": the transaction commits when the handler returns, *before* the response is
# sent, so a client never sees a success whose commit then failed (nor reads before it lands).
# Streaming responses must open their own session inside the stream.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]
OutboundDep = Annotated[OutboundPolicy, Depends(get_outbound)]
