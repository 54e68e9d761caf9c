"""A signed-in browser-like client per role, over the ASGI app (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from herald.auth.principal import Role
from herald.kit.db import Database
from tests.conftest import OrgHandle
from tests.web.helpers import log_in, make_user

Browser = Callable[[Role], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def browser(app: FastAPI, database: Database, org: OrgHandle) -> AsyncIterator[Browser]:
    """``await browser(Role.viewer)``: a client with its own cookie jar, signed in as a user of that role."""
    clients: list[httpx.AsyncClient] = []

    async def open_as(role: Role) -> httpx.AsyncClient:
        email = await make_user(database, org_id=org.id, role=role, email=f"{role.value}-{len(clients)}@acme.test")
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test")
        clients.append(client)
        answer = await log_in(client, email)
        assert answer.status_code == 303, answer.text
        return client

    yield open_as
    for client in clients:
        await client.aclose()
